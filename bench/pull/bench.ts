// bench/pull: the 10 images of bench/images.ts from docker-registry on 127.0.0.1 into empty
// directories: ours (one process, 8 downloads at once) against `skopeo copy docker://... dir:...`
// one image after the other and 8 at once, in one run. Also bytes on disk after the pull, and
// blob GETs the registry served to each.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { round } from '../engine/bench.ts';
import { compare, type Timed } from '../hyperfine.ts';
import { pushBenchImages, run, skopeoPulls } from '../images.ts';

export interface PullBenchResults {
  images: number;
  pulledBytes: number;
  uniqueBytes: number;
  wall: Record<'ours' | 'skopeoSequential' | 'skopeoParallel', Timed>;
  diskBytes: Record<'ours' | 'skopeo', number>;
  blobGets: Record<'ours' | 'skopeo', number>;
  ratios: { wallVsSkopeoSequential: number; wallVsSkopeoParallel: number; diskVsSkopeo: number };
}

function diskBytes(dir: string): number {
  // du counts each inode once: hard-linked layers are counted once.
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

export async function benchPull(root: string): Promise<PullBenchResults> {
  const work = join(root, 'bench', 'work', 'pull');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const { registry, images, listFile, pulledBytes, uniqueBytes } = await pushBenchImages(work);
  const ours = join(work, 'ours');
  const theirs = join(work, 'skopeo');
  try {
    const skopeoFile = skopeoPulls(work, 'skopeo', registry.host, images, theirs);
    const oursCommand = `node ${join(root, 'buildchain/launch/launch.cjs')} ${join(root, 'bench/pull/pull-all.ts')} ${registry.host} ${listFile} ${ours}`;
    const parallel = `xargs -P 8 -I{} sh -c {} < ${skopeoFile}`;

    // One measured pass each, to count what the registry served and what lands on disk.
    const gets = () => (registry.log().match(/"GET \/v2\/[^"]*\/blobs\/sha256:/g) ?? []).length;
    let before = gets();
    run(oursCommand);
    const oursGets = gets() - before;
    const oursDisk = diskBytes(ours);
    before = gets();
    mkdirSync(theirs); // skopeo's dir: transport wants the parent to exist
    run(parallel);
    const skopeoGets = gets() - before;
    const skopeoDisk = diskBytes(theirs);

    const clean = `rm -rf ${ours} ${theirs} && mkdir ${theirs}`;
    const wall = compare(
      [
        { name: 'ours', command: oursCommand, prepare: clean },
        { name: 'skopeoSequential', command: `sh ${skopeoFile}`, prepare: clean },
        { name: 'skopeoParallel', command: parallel, prepare: clean },
      ],
      { runs: 5, warmup: 1, workDir: work },
    ) as PullBenchResults['wall'];
    return {
      images: images.length,
      pulledBytes,
      uniqueBytes,
      wall,
      diskBytes: { ours: oursDisk, skopeo: skopeoDisk },
      blobGets: { ours: oursGets, skopeo: skopeoGets },
      ratios: {
        wallVsSkopeoSequential: round(wall.ours.median / wall.skopeoSequential.median),
        wallVsSkopeoParallel: round(wall.ours.median / wall.skopeoParallel.median),
        diskVsSkopeo: round(oursDisk / skopeoDisk),
      },
    };
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
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
