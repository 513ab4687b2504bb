// The image set of bench/pull and bench/registry: 10 generated images (~500 MB as pulled, half
// of the layers shared) pushed with skopeo to Debian's docker-registry on 127.0.0.1.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from '../buildchain/tools.ts';
import { imageOf, randomLayer, writeOciLayout, type Blob } from '../test/oci-fixtures.ts';
import { startDockerRegistry, type LocalServer } from '../test/servers.ts';

export const IMAGES = 10;
const SHARED = 5;
const SHARED_SIZE = 16 << 20;
const UNIQUE_SIZE = 9 << 20;

export interface BenchImage {
  repository: string;
  tag: string;
  digest: string;
}

export interface BenchImages {
  registry: LocalServer;
  images: BenchImage[];
  /** images.json: the list, for bench/pull/pull-all.ts. */
  listFile: string;
  pulledBytes: number;
  uniqueBytes: number;
}

/** Each image: 2 of 5 shared 16 MiB layers and 2 of its own 9 MiB. The caller stops the registry. */
export async function pushBenchImages(work: string): Promise<BenchImages> {
  const skopeo = requireExecutable('skopeo');
  mkdirSync(join(work, 'registry'), { recursive: true });
  const registry = await startDockerRegistry(join(work, 'registry'));
  try {
    const shared: Blob[] = [];
    for (let i = 0; i < SHARED; i += 1) shared.push(await randomLayer(`shared${i}`, SHARED_SIZE));
    const images: BenchImage[] = [];
    let pulledBytes = 0;
    const unique = new Map<string, number>();
    for (let i = 0; i < IMAGES; i += 1) {
      const layers = [
        shared[i % SHARED]!,
        shared[(i + 1) % SHARED]!,
        await randomLayer(`own${i}a`, UNIQUE_SIZE),
        await randomLayer(`own${i}b`, UNIQUE_SIZE),
      ];
      const image = imageOf(layers, 'amd64', `bench${i}`);
      const layout = join(work, 'oci', String(i));
      writeOciLayout(layout, image.manifest, [image.config, ...layers]);
      execFileSync(skopeo, [
        '--insecure-policy',
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:latest`,
        `docker://${registry.host}/bench/image${i}:1`,
      ]);
      images.push({ repository: `bench/image${i}`, tag: '1', digest: image.manifest.digest });
      for (const blob of [image.config, ...layers]) {
        pulledBytes += blob.bytes.length;
        unique.set(blob.digest, blob.bytes.length);
      }
    }
    rmSync(join(work, 'oci'), { recursive: true, force: true });
    const listFile = join(work, 'images.json');
    writeFileSync(listFile, JSON.stringify(images));
    return { registry, images, listFile, pulledBytes, uniqueBytes: [...unique.values()].reduce((a, b) => a + b, 0) };
  } catch (error) {
    await registry.stop();
    throw error;
  }
}

/** A file of skopeo commands copying every image by digest from `host` into `out/<n>`. */
export function skopeoPulls(
  work: string,
  name: string,
  host: string,
  images: readonly BenchImage[],
  out: string,
): string {
  const skopeo = requireExecutable('skopeo');
  const file = join(work, `${name}.txt`);
  writeFileSync(
    file,
    images
      .map(
        (image, i) =>
          `${skopeo} --insecure-policy copy --src-tls-verify=false docker://${host}/${image.repository}@${image.digest} dir:${join(out, String(i))}\n`,
      )
      .join(''),
  );
  return file;
}

/** Runs a shell command; a failure stops the benchmark. */
export function run(command: string): void {
  const { status } = spawnSync('sh', ['-c', command], { stdio: 'inherit' });
  if (status !== 0) throw new Error(`exit ${status}: ${command}`);
}
