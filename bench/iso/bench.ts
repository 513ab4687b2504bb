// bench/iso: writing an ISO of a ~2 GiB tree shaped like MetalK8s's (a few large image layers,
// each hard-linked twice, and thousands of small files): ours against `xorriso -as mkisofs` and
// genisoimage with upstream's flags, and `cat` of the unique bytes as the floor, in one run.
// Also our peak RSS on a tree holding one 4 GiB file, and the real-tree case: this machine's own
// /etc (a small tree, where start-up and cold code weigh most), /usr/share, /usr/lib and /usr
// (names, depths and sizes no generator of ours made), ours against xorriso in interleaved
// rounds, with the peak RSS of both.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from '../../buildchain/tools.ts';
import { round } from '../engine/bench.ts';
import { compareInterleaved, median, type Timed } from '../hyperfine.ts';

const LARGE_FILES = 6;
const LARGE_SIZE = 300 * 1024 * 1024;
const SMALL_FILES = 4000;
const VOLID = 'MetalK8s 2.4.1-dev';
/** Upstream's mkisofs flags (buildchain/iso.py), given to xorriso -as mkisofs and genisoimage. */
export const MKISOFS_FLAGS = [
  '-quiet',
  '-rock',
  '-joliet',
  '-joliet-long',
  '-full-iso9660-filenames',
  '-volid',
  VOLID,
  '-iso-level',
  '3',
  '-gid',
  '0',
  '-uid',
  '0',
  '-input-charset',
  'utf-8',
  '-output-charset',
  'utf-8',
];

export interface IsoBenchResults {
  tree: { files: number; uniqueBytes: number };
  wall: Record<'ours' | 'xorriso' | 'genisoimage' | 'cat' | 'sha256', Timed>;
  isoBytes: Record<'ours' | 'xorriso' | 'genisoimage', number>;
  peakRssMiB: Record<'ours' | 'xorriso' | 'genisoimage' | 'ours4GiB', number>;
  /** Medians of the ratios paired within each round. */
  ratios: {
    wallVsXorriso: number;
    wallVsGenisoimage: number;
    wallVsCat: number;
    wallVsCopyAndHash: number;
    sizeVsXorriso: number;
    rssVsXorriso: number;
  };
  realTrees: RealTreeResult[];
}

/** One of this machine's own trees, written by us and by xorriso. */
export interface RealTreeResult {
  tree: string;
  entries: number;
  bytes: number;
  /** Interleaved wall times (absent for the largest tree, measured for memory only). */
  wall?: Record<'ours' | 'xorriso', Timed>;
  /** Median of the ratios paired within each round. */
  wallVsXorriso?: number;
  peakRssMiB: Record<'ours' | 'xorriso', number>;
  rssVsXorriso: number;
}

/**
 * Trees timed in rounds: /etc (about 1,400 names, a third of a second: more rounds against the
 * noise of a shared machine), then trees of a few seconds each; /usr, 150,000 names and 6 GB, for
 * memory only.
 */
const REAL_TREES = [
  { tree: '/etc', rounds: 21 },
  { tree: '/usr/share', rounds: 5 },
  { tree: '/usr/lib', rounds: 5 },
  { tree: '/usr', rounds: 0 },
];

function makeTree(root: string): { files: string[]; uniqueBytes: number } {
  const unique: string[] = [];
  let uniqueBytes = 0;
  const chunk = Buffer.alloc(8 << 20);
  for (let i = 0; i < LARGE_FILES; i++) {
    const dir = join(root, 'images', `image${i}`, '1.0');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `layer${i}`);
    const fd = openSync(path, 'w');
    for (let written = 0; written < LARGE_SIZE; written += chunk.length) writeSync(fd, randomFillSync(chunk));
    closeSync(fd);
    unique.push(path);
    uniqueBytes += LARGE_SIZE;
    for (const copy of ['a', 'b']) {
      const linked = join(root, 'images', `image${i}-${copy}`, '1.0');
      mkdirSync(linked, { recursive: true });
      linkSync(path, join(linked, `layer${i}`));
    }
  }
  for (let i = 0; i < SMALL_FILES; i++) {
    const dir = join(root, 'salt', `group${i % 40}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `state-${i}.sls`);
    const body = randomFillSync(Buffer.alloc(1000 + (i % 50) * 1000)).toString('base64');
    writeFileSync(path, body);
    unique.push(path);
    uniqueBytes += Buffer.byteLength(body);
  }
  return { files: unique, uniqueBytes };
}

/** A command line for sh, each word quoted. */
function quote(argv: string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** Peak RSS of one run of a command, in MiB, from GNU time. */
function peakRss(command: string[]): number {
  const time = requireExecutable('time', undefined);
  const run = spawnSync(time, ['-f', '%M', ...command], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.status !== 0) throw new Error(`${command.join(' ')} failed: ${run.stderr}`);
  return Math.round(Number(run.stderr.trim().split('\n').pop()) / 1024);
}

export function benchIso(root: string): IsoBenchResults {
  const xorriso = requireExecutable('xorriso');
  const genisoimage = requireExecutable('genisoimage');
  const work = join(root, 'bench', 'work', 'iso');
  rmSync(work, { recursive: true, force: true });
  const tree = join(work, 'tree');
  mkdirSync(tree, { recursive: true });
  const { files, uniqueBytes } = makeTree(tree);
  const list = join(work, 'unique-files.txt');
  writeFileSync(list, `${files.join('\n')}\n`);

  const out = (name: string): string => join(work, `${name}.iso`);
  const toolkit = join(root, 'toolkit.ts');
  const commands = {
    ours: [toolkit, 'iso', 'create', tree, '-o', out('ours'), '--volid', VOLID],
    xorriso: [xorriso, '-as', 'mkisofs', ...MKISOFS_FLAGS, '-o', out('xorriso'), tree],
    genisoimage: [genisoimage, ...MKISOFS_FLAGS, '-o', out('genisoimage'), tree],
    cat: ['sh', '-c', `xargs -d '\\n' cat < ${list} > ${out('cat')}`],
    // The unique bytes hashed by OpenSSL (SHA-NI), nothing written: what any writer that also
    // gives the image's sha256, as ours does for SHA256SUM, cannot go below on one stream.
    sha256: ['sh', '-c', `xargs -d '\\n' ${requireExecutable('openssl')} dgst -sha256 < ${list} > /dev/null`],
  };
  const { timed, rounds } = compareInterleaved(
    // Each run starts with no dirty pages left by the previous one: otherwise writeback throttling
    // of one run's output is charged to the next.
    Object.entries(commands).map(([name, argv]) => ({
      name,
      command: quote(argv),
      prepare: `rm -f ${out(name)} && sync`,
    })),
    { rounds: 7, warmup: 1, workDir: work },
  );
  const wall = timed as IsoBenchResults['wall'];
  const paired = (ratio: (r: Record<string, number>) => number): number => round(median(rounds.map(ratio)));
  const isoBytes = {
    ours: statSync(out('ours')).size,
    xorriso: statSync(out('xorriso')).size,
    genisoimage: statSync(out('genisoimage')).size,
  };
  // The ISOs must hold the same tree: a quick check with bsdtar.
  const names = (iso: string): string =>
    execFileSync(requireExecutable('bsdtar'), ['-tf', iso], { encoding: 'utf8', maxBuffer: 64 << 20 })
      .split('\n')
      .filter((l) => l && l !== '.')
      .map((l) => l.replace(/\/$/, ''))
      .sort()
      .join('\n');
  if (names(out('ours')) !== names(out('xorriso'))) throw new Error("our ISO and xorriso's do not list the same names");

  const rss = {
    ours: peakRss(commands.ours),
    xorriso: peakRss(commands.xorriso),
    genisoimage: peakRss(commands.genisoimage),
    ours4GiB: peakRss4GiB(work, toolkit),
  };
  const realTrees = REAL_TREES.map(({ tree: real, rounds }) => benchRealTree(work, toolkit, xorriso, real, rounds));
  return {
    realTrees,
    tree: { files: files.length + LARGE_FILES * 2, uniqueBytes },
    wall,
    isoBytes,
    peakRssMiB: rss,
    ratios: {
      // Paired per round, then the median: this machine's write path drifts (one run can take
      // three times another) and a ratio of two medians taken minutes apart would carry it.
      wallVsXorriso: paired((r) => r.ours! / r.xorriso!),
      wallVsGenisoimage: paired((r) => r.ours! / r.genisoimage!),
      wallVsCat: paired((r) => r.ours! / r.cat!),
      wallVsCopyAndHash: paired((r) => r.ours! / Math.max(r.cat!, r.sha256!)),
      sizeVsXorriso: round(isoBytes.ours / isoBytes.xorriso),
      rssVsXorriso: round(rss.ours / rss.xorriso),
    },
  };
}

function benchRealTree(work: string, toolkit: string, xorriso: string, tree: string, rounds: number): RealTreeResult {
  const count = execFileSync('sh', ['-c', `find ${tree} | wc -l; du -sb ${tree} | cut -f1`], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  const out = (name: string): string => join(work, `real-${name}.iso`);
  const commands = {
    ours: [toolkit, 'iso', 'create', tree, '-o', out('ours'), '--volid', VOLID],
    xorriso: [xorriso, '-as', 'mkisofs', ...MKISOFS_FLAGS, '-o', out('xorriso'), tree],
  };
  const result: RealTreeResult = {
    tree,
    entries: count[0]!,
    bytes: count[1]!,
    peakRssMiB: { ours: peakRss(commands.ours), xorriso: peakRss(commands.xorriso) },
    rssVsXorriso: 0,
  };
  result.rssVsXorriso = round(result.peakRssMiB.ours / result.peakRssMiB.xorriso);
  if (rounds > 0) {
    const interleaved = compareInterleaved(
      Object.entries(commands).map(([name, argv]) => ({
        name,
        command: quote(argv),
        prepare: `rm -f ${out(name)} && sync`,
      })),
      { rounds, warmup: 1, workDir: work },
    );
    result.wall = interleaved.timed as Record<'ours' | 'xorriso', Timed>;
    result.wallVsXorriso = round(median(interleaved.rounds.map((r) => r.ours! / r.xorriso!)));
  }
  rmSync(out('ours'), { force: true });
  rmSync(out('xorriso'), { force: true });
  return result;
}

/** Our peak RSS on a tree with one 4 GiB (sparse) file: memory must not grow with the data. */
function peakRss4GiB(work: string, toolkit: string): number {
  const tree = join(work, 'tree-4gib');
  mkdirSync(tree, { recursive: true });
  const fd = openSync(join(tree, 'layer.tar'), 'w');
  ftruncateSync(fd, 4 * 1024 ** 3 + 4096);
  closeSync(fd);
  const rss = peakRss([toolkit, 'iso', 'create', tree, '-o', join(work, 'big.iso')]);
  rmSync(join(work, 'big.iso'), { force: true });
  return rss;
}

export function isoTable(r: IsoBenchResults): string {
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
  return [
    `Tree: ${r.tree.files} names, ${mib(r.tree.uniqueBytes)} MiB of unique bytes (6 layers of 300 MiB, each under 3 names).`,
    '',
    '| writer | wall, median (s) | min (s) | ISO (MiB) | peak RSS (MiB) |',
    '|---|---:|---:|---:|---:|',
    `| ours | ${r.wall.ours.median.toFixed(2)} | ${r.wall.ours.min.toFixed(2)} | ${mib(r.isoBytes.ours)} | ${r.peakRssMiB.ours} |`,
    `| xorriso -as mkisofs | ${r.wall.xorriso.median.toFixed(2)} | ${r.wall.xorriso.min.toFixed(2)} | ${mib(r.isoBytes.xorriso)} | ${r.peakRssMiB.xorriso} |`,
    `| genisoimage | ${r.wall.genisoimage.median.toFixed(2)} | ${r.wall.genisoimage.min.toFixed(2)} | ${mib(r.isoBytes.genisoimage)} | ${r.peakRssMiB.genisoimage} |`,
    `| cat of the unique bytes | ${r.wall.cat.median.toFixed(2)} | ${r.wall.cat.min.toFixed(2)} | | |`,
    `| openssl sha256 of the unique bytes | ${r.wall.sha256.median.toFixed(2)} | ${r.wall.sha256.min.toFixed(2)} | | |`,
    '',
    `Ratios (median of the ${r.wall.ours.runs} rounds' own ratios): wall ours/xorriso ${r.ratios.wallVsXorriso}, ours/genisoimage ${r.ratios.wallVsGenisoimage}, ` +
      `ours/cat ${r.ratios.wallVsCat}, ours/max(cat, sha256) ${r.ratios.wallVsCopyAndHash}; ` +
      `size ours/xorriso ${r.ratios.sizeVsXorriso}; peak RSS ours/xorriso ${r.ratios.rssVsXorriso}, ours with a 4 GiB file: ${r.peakRssMiB.ours4GiB} MiB.`,
    '',
    "This machine's own trees (wall: medians of interleaved rounds; ratios paired per round, then their median):",
    '',
    '| tree | names | GB | rounds | wall ours (s) | wall xorriso (s) | wall ours/xorriso | peak RSS ours (MiB) | xorriso (MiB) | RSS ours/xorriso |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.realTrees.map(
      (t) =>
        `| ${t.tree} | ${t.entries} | ${(t.bytes / 1e9).toFixed(t.bytes < 1e8 ? 3 : 1)} | ${t.wall?.ours.runs ?? ''} | ${t.wall ? seconds(t.wall.ours.median) : ''} | ${t.wall ? seconds(t.wall.xorriso.median) : ''} | ${t.wallVsXorriso ?? ''} | ${t.peakRssMiB.ours} | ${t.peakRssMiB.xorriso} | ${t.rssVsXorriso} |`,
    ),
  ].join('\n');
}

/** Seconds with two decimals, three under a second (the small tree's runs). */
function seconds(value: number): string {
  return value.toFixed(value < 1 ? 3 : 2);
}
