// bench/full at MetalK8s 2.4's scale: the demo's inputs of size `metalk8s` (26 images, about 2 GB
// as pulled, 600 packages, served on 127.0.0.1), `./build.ts iso` cold (empty BUILD_ROOT and
// store) and warm (a no-op). The cold build is set against its floor in the same run: the slower
// of fetching its unique bytes from the same servers with curl, and sha256 of the ISO it wrote.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from '../../buildchain/tools.ts';
import { prepareDemo } from '../../demo/inputs.ts';
import { phaseSpans, type JsonTaskReport } from '../../buildchain/engine/report.ts';
import { PHASES } from './bench.ts';
import { round } from '../engine/bench.ts';
import { compare, type Timed } from '../hyperfine.ts';

export interface ScaleResults {
  inputs: { images: number; pulledBytes: number; uniqueBytes: number; packages: number; isoBytes: number };
  cold: { wall: number; phases: Record<string, number> };
  warm: Timed;
  floor: { curl: Timed; sha256: Timed; floor: number; coldVsFloor: number };
}

const phases = (tasks: JsonTaskReport[]) => phaseSpans(tasks, PHASES);

export async function benchFullScale(root: string): Promise<ScaleResults> {
  const work = join(root, 'bench', 'work', 'full-scale');
  const demo = await prepareDemo(work, 'metalk8s', (line) => process.stderr.write(`bench/full scale: ${line}\n`));
  try {
    const build = [
      'node',
      join(root, 'buildchain/launch/launch.cjs'),
      join(root, 'build.ts'),
      '-f',
      join(demo.project, 'tasks.ts'),
      'iso',
    ];
    rmSync(demo.buildRoot, { recursive: true, force: true });
    const start = process.hrtime.bigint();
    const cold = spawnSync(build[0]!, [...build.slice(1), '--reporter', 'json'], {
      encoding: 'utf8',
      maxBuffer: 512 << 20,
    });
    const wall = Number(process.hrtime.bigint() - start) / 1e9;
    if (cold.status !== 0)
      throw new Error(`./build.ts iso failed (exit ${cold.status}):\n${cold.stderr}\n${cold.stdout.slice(-4000)}`);
    const iso = join(demo.buildRoot, 'metalk8s.iso');
    const warm = compare([{ name: 'warm', command: build.join(' ') }], { runs: 5, warmup: 1, workDir: work }).warm!;
    // The floor: every unique byte fetched once from the same servers (8 at a time, as PULL_JOBS),
    // and one read of the ISO through sha256.
    const urls = readFileSync(demo.fetchList, 'utf8').trim().split('\n');
    const config = join(work, 'curl.conf');
    writeFileSync(config, urls.map((url) => `url = "${url}"\noutput = "/dev/null"\n`).join(''));
    const accept =
      'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
    const floor = compare(
      [
        {
          name: 'curl',
          command: `${requireExecutable('curl')} -sSf --parallel --parallel-max 8 -H '${accept}' -K ${config}`,
        },
        { name: 'sha256', command: `${requireExecutable('sha256sum')} ${iso}` },
      ],
      { runs: 3, warmup: 1, workDir: work },
    );
    const slowest = Math.max(floor.curl!.median, floor.sha256!.median);
    return {
      inputs: {
        images: demo.inputs.images,
        pulledBytes: demo.inputs.pulledBytes,
        uniqueBytes: demo.inputs.uniqueBytes,
        packages: demo.inputs.packages,
        isoBytes: statSync(iso).size,
      },
      cold: { wall: round(wall), phases: phases((JSON.parse(cold.stdout) as { tasks: JsonTaskReport[] }).tasks) },
      warm,
      floor: { curl: floor.curl!, sha256: floor.sha256!, floor: round(slowest), coldVsFloor: round(wall / slowest) },
    };
  } finally {
    await demo.stop();
    rmSync(work, { recursive: true, force: true }); // 2 GB of generated inputs
  }
}

export function scaleTable(r: ScaleResults): string {
  const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  const p = r.cold.phases;
  const s = (seconds: number | undefined) => `${(seconds ?? 0).toFixed(2)} s`;
  return [
    `At MetalK8s' scale (\`npm run demo -- --size metalk8s\`'s inputs): ${r.inputs.images} images (${gb(r.inputs.pulledBytes)} as pulled), ` +
      `${r.inputs.packages} packages; ${gb(r.inputs.uniqueBytes)} of unique bytes; ISO of ${gb(r.inputs.isoBytes)}.`,
    '',
    '| build | wall time | pull | packages | ISO write | checksums | floor (slower of curl, sha256) | vs floor |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    `| cold (empty store) | ${r.cold.wall.toFixed(2)} s | ${s(p.pull)} | ${s(p.packages)} | ${s(p.isoWrite)} | ${s(p.checksums)} | ${s(r.floor.floor)} | ${r.floor.coldVsFloor.toFixed(1)}x |`,
    `| warm (no-op), median of ${r.warm.runs} | ${r.warm.median.toFixed(2)} s | | | | | | |`,
    '',
    `Floor, same run: curl of the unique bytes from the same servers, 8 at a time, ${r.floor.curl.median.toFixed(2)} s; ` +
      `sha256sum of the ISO ${r.floor.sha256.median.toFixed(2)} s.`,
  ].join('\n');
}
