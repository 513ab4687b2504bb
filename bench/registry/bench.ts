// bench/registry: serving images from static files. (1) Generating the nginx configuration for
// 50 images x 3 tags (./toolkit.ts registry-config, whole process). (2) skopeo pulling the 10
// images of bench/images.ts (~500 MB) by digest from our nginx static registry and from Debian's
// docker-registry, one after the other and 8 at once, in the same run.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST } from '../../buildchain/oci/media-types.ts';
import { registryConfigFor } from '../../static-registry/index.ts';
import { startNginxServer } from '../../test/servers.ts';
import { round } from '../engine/bench.ts';
import { compare, type Timed } from '../hyperfine.ts';
import { pushBenchImages, run, skopeoPulls } from '../images.ts';

export interface RegistryBenchResults {
  config: { images: number; tags: number; locations: number; bytes: number; wall: Timed };
  pull: {
    images: number;
    pulledBytes: number;
    wall: Record<'nginxSequential' | 'registrySequential' | 'nginxParallel' | 'registryParallel', Timed>;
    ratios: { sequential: number; parallel: number };
  };
}

/** ROOT/image<i>/<tag>/: a v2s2 manifest, its config and two small layers, all distinct. */
function syntheticLayouts(root: string, images: number, tags: number): void {
  const blob = (bytes: Buffer) => ({ hex: createHash('sha256').update(bytes).digest('hex'), bytes });
  for (let i = 0; i < images; i += 1) {
    for (let t = 0; t < tags; t += 1) {
      const dir = join(root, `image${i}`, `1.${t}.0`);
      mkdirSync(dir, { recursive: true });
      const layers = [blob(randomBytes(1024)), blob(randomBytes(1024))];
      const config = blob(
        Buffer.from(
          JSON.stringify({
            architecture: 'amd64',
            os: 'linux',
            rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.hex}`) },
          }),
        ),
      );
      for (const part of [config, ...layers]) writeFileSync(join(dir, part.hex), part.bytes);
      writeFileSync(
        join(dir, 'manifest.json'),
        JSON.stringify({
          schemaVersion: 2,
          mediaType: DOCKER_MANIFEST,
          config: { mediaType: DOCKER_CONFIG, digest: `sha256:${config.hex}`, size: config.bytes.length },
          layers: layers.map((l) => ({
            mediaType: DOCKER_LAYER_GZIP,
            digest: `sha256:${l.hex}`,
            size: l.bytes.length,
          })),
        }),
      );
      writeFileSync(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
    }
  }
}

export async function benchRegistry(root: string): Promise<RegistryBenchResults> {
  const work = join(root, 'bench', 'work', 'registry');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const toolkit = `node ${join(root, 'buildchain/launch/launch.cjs')} ${join(root, 'toolkit.ts')}`;

  const synthetic = join(work, 'synthetic');
  syntheticLayouts(synthetic, 50, 3);
  const generated = registryConfigFor(synthetic);
  const configWall = compare(
    [{ name: 'registry-config', command: `${toolkit} registry-config ${synthetic} > /dev/null` }],
    { runs: 10, warmup: 2, workDir: work },
  )['registry-config']!;

  const { registry, images, listFile, pulledBytes } = await pushBenchImages(work);
  let nginx: Awaited<ReturnType<typeof startNginxServer>> | undefined;
  try {
    // The static side: the same images laid out by our puller, served by nginx.
    const served = join(work, 'served');
    run(
      `node ${join(root, 'buildchain/launch/launch.cjs')} ${join(root, 'bench/pull/pull-all.ts')} ${registry.host} ${listFile} ${served}`,
    );
    writeFileSync(join(work, 'registry.conf'), registryConfigFor(join(served, 'images')));
    mkdirSync(join(work, 'nginx'));
    // As on a node: a master and one worker per core.
    nginx = await startNginxServer(join(work, 'nginx'), `include ${join(work, 'registry.conf')};`, {
      workers: availableParallelism(),
    });

    const out = join(work, 'out');
    const fromNginx = skopeoPulls(work, 'nginx', nginx.host, images, out);
    const fromRegistry = skopeoPulls(work, 'registry', registry.host, images, out);
    const prepare = `rm -rf ${out} && mkdir ${out}`;
    run(`${prepare} && sh ${fromNginx}`); // fails here, not in hyperfine, if a pull does not work
    const parallel = (file: string) => `xargs -P 8 -I{} sh -c {} < ${file}`;
    const wall = compare(
      [
        { name: 'nginxSequential', command: `sh ${fromNginx}`, prepare },
        { name: 'registrySequential', command: `sh ${fromRegistry}`, prepare },
        { name: 'nginxParallel', command: parallel(fromNginx), prepare },
        { name: 'registryParallel', command: parallel(fromRegistry), prepare },
      ],
      { runs: 5, warmup: 1, workDir: work },
    ) as RegistryBenchResults['pull']['wall'];
    return {
      config: {
        images: 50,
        tags: 150,
        locations: (generated.match(/^location /gm) ?? []).length,
        bytes: generated.length,
        wall: configWall,
      },
      pull: {
        images: images.length,
        pulledBytes,
        wall,
        ratios: {
          sequential: round(wall.nginxSequential.median / wall.registrySequential.median),
          parallel: round(wall.nginxParallel.median / wall.registryParallel.median),
        },
      },
    };
  } finally {
    await nginx?.stop();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export function registryTable(r: RegistryBenchResults): string {
  const s = (t: Timed) => `${t.median.toFixed(2)} s`;
  return [
    `Config for ${r.config.images} images x 3 tags (${r.config.locations} locations, ${Math.round(r.config.bytes / 1024)} KiB): ${s(r.config.wall)} for the whole \`./toolkit.ts registry-config\` process (median of 10).`,
    '',
    `skopeo pulling ${r.pull.images} images (${Math.round(r.pull.pulledBytes / 2 ** 20)} MiB) by digest, median of 5 runs:`,
    '',
    '| | nginx static registry | docker-registry | nginx / docker-registry |',
    '|---|---:|---:|---:|',
    `| one by one | ${s(r.pull.wall.nginxSequential)} | ${s(r.pull.wall.registrySequential)} | ${r.pull.ratios.sequential} |`,
    `| 8 at once | ${s(r.pull.wall.nginxParallel)} | ${s(r.pull.wall.registryParallel)} | ${r.pull.ratios.parallel} |`,
  ].join('\n');
}
