// bench/pull: 10 generated images (~500 MB as pulled, half of the layers shared) from
// docker-registry on 127.0.0.1 into empty directories: ours (one process, 8 downloads at once)
// against `skopeo copy docker://... dir:...` one image after the other and 8 at once, in one
// run. Also bytes on disk after the pull, and blob GETs the registry served to each.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { requireExecutable } from '../../buildchain/tools.ts';
import { imageOf, randomLayer, writeOciLayout, type Blob } from '../../test/oci-fixtures.ts';
import { round } from '../engine/bench.ts';
import { compare, type Timed } from '../hyperfine.ts';

const IMAGES = 10;
const SHARED = 5;
const SHARED_SIZE = 16 << 20;
const UNIQUE_SIZE = 9 << 20;

export interface PullBenchResults {
  images: number;
  pulledBytes: number;
  uniqueBytes: number;
  wall: Record<'ours' | 'skopeoSequential' | 'skopeoParallel', Timed>;
  diskBytes: Record<'ours' | 'skopeo', number>;
  blobGets: Record<'ours' | 'skopeo', number>;
  ratios: { wallVsSkopeoSequential: number; wallVsSkopeoParallel: number; diskVsSkopeo: number };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(command: string): void {
  const { status } = spawnSync('sh', ['-c', command], { stdio: 'inherit' });
  if (status !== 0) throw new Error(`bench/pull: exit ${status}: ${command}`);
}

function diskBytes(dir: string): number {
  // du counts each inode once: hard-linked layers are counted once.
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

export async function benchPull(root: string): Promise<PullBenchResults> {
  const skopeo = requireExecutable('skopeo');
  const work = join(root, 'bench', 'work', 'pull');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(join(work, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: ${host}\n`);
  const logFile = join(work, 'access.log');
  // The access log goes to a file, not a pipe: the pushes below block this event loop, and a
  // registry writing into an undrained pipe would stall them.
  const logFd = openSync(logFile, 'w');
  const registry = spawn(requireExecutable('docker-registry'), ['serve', join(work, 'config.yml')], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  try {
    for (let i = 0; i < 100 && !(await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false)); i += 1) await new Promise((r) => setTimeout(r, 50));

    const shared: Blob[] = [];
    for (let i = 0; i < SHARED; i += 1) shared.push(await randomLayer(`shared${i}`, SHARED_SIZE));
    const list: { repository: string; digest: string }[] = [];
    let pulledBytes = 0;
    const unique = new Map<string, number>();
    for (let i = 0; i < IMAGES; i += 1) {
      const layers = [shared[i % SHARED]!, shared[(i + 1) % SHARED]!, await randomLayer(`own${i}a`, UNIQUE_SIZE), await randomLayer(`own${i}b`, UNIQUE_SIZE)];
      const image = imageOf(layers, 'amd64', `bench${i}`);
      const layout = join(work, 'oci', String(i));
      writeOciLayout(layout, image.manifest, [image.config, ...layers]);
      execFileSync(skopeo, ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${host}/bench/image${i}:1`]);
      list.push({ repository: `bench/image${i}`, digest: image.manifest.digest });
      for (const blob of [image.config, ...layers]) {
        pulledBytes += blob.bytes.length;
        unique.set(blob.digest, blob.bytes.length);
      }
    }
    rmSync(join(work, 'oci'), { recursive: true, force: true });
    const listFile = join(work, 'images.json');
    writeFileSync(listFile, JSON.stringify(list));
    const skopeoCommands = list.map((image, i) => `${skopeo} --insecure-policy copy --src-tls-verify=false docker://${host}/${image.repository}@${image.digest} dir:${join(work, 'skopeo', String(i))}`);
    writeFileSync(join(work, 'skopeo.txt'), `${skopeoCommands.join('\n')}\n`);
    const ours = `node ${join(root, 'buildchain/launch.cjs')} ${join(root, 'bench/pull/pull-all.ts')} ${host} ${listFile} ${join(work, 'ours')}`;

    // One measured pass each, to count what the registry served and what lands on disk.
    const gets = () => (readFileSync(logFile, 'utf8').match(/"GET \/v2\/[^"]*\/blobs\/sha256:/g) ?? []).length;
    let before = gets();
    run(ours);
    const oursGets = gets() - before;
    const oursDisk = diskBytes(join(work, 'ours'));
    before = gets();
    mkdirSync(join(work, 'skopeo')); // skopeo's dir: transport wants the parent to exist
    run(`xargs -P 8 -I{} sh -c {} < ${join(work, 'skopeo.txt')}`);
    const skopeoGets = gets() - before;
    const skopeoDisk = diskBytes(join(work, 'skopeo'));

    const clean = `rm -rf ${join(work, 'ours')} ${join(work, 'skopeo')} && mkdir ${join(work, 'skopeo')}`;
    const wall = compare([
      { name: 'ours', command: ours, prepare: clean },
      { name: 'skopeoSequential', command: `sh ${join(work, 'skopeo.txt')}`, prepare: clean },
      { name: 'skopeoParallel', command: `xargs -P 8 -I{} sh -c {} < ${join(work, 'skopeo.txt')}`, prepare: clean },
    ], { runs: 5, warmup: 1, workDir: work }) as PullBenchResults['wall'];
    const uniqueBytes = [...unique.values()].reduce((a, b) => a + b, 0);
    return {
      images: IMAGES, pulledBytes, uniqueBytes, wall,
      diskBytes: { ours: oursDisk, skopeo: skopeoDisk },
      blobGets: { ours: oursGets, skopeo: skopeoGets },
      ratios: {
        wallVsSkopeoSequential: round(wall.ours.median / wall.skopeoSequential.median),
        wallVsSkopeoParallel: round(wall.ours.median / wall.skopeoParallel.median),
        diskVsSkopeo: round(oursDisk / skopeoDisk),
      },
    };
  } finally {
    registry.kill('SIGTERM');
    rmSync(join(work, 'registry'), { recursive: true, force: true });
    rmSync(join(work, 'ours'), { recursive: true, force: true });
    rmSync(join(work, 'skopeo'), { recursive: true, force: true });
  }
}

export function pullTable(r: PullBenchResults): string {
  const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
  return [
    `${r.images} images, ${mb(r.pulledBytes)} as pulled, ${mb(r.uniqueBytes)} of distinct blobs; median of 5 runs.`,
    '',
    '| | ours | skopeo, one by one | skopeo, 8 at once |',
    '|---|---:|---:|---:|',
    `| wall time | ${r.wall.ours.median.toFixed(2)} s | ${r.wall.skopeoSequential.median.toFixed(2)} s | ${r.wall.skopeoParallel.median.toFixed(2)} s |`,
    `| ours / anchor | | ${r.ratios.wallVsSkopeoSequential} | ${r.ratios.wallVsSkopeoParallel} |`,
    `| bytes on disk | ${mb(r.diskBytes.ours)} | ${mb(r.diskBytes.skopeo)} | |`,
    `| blob GETs served | ${r.blobGets.ours} | ${r.blobGets.skopeo} | |`,
  ].join('\n');
}
