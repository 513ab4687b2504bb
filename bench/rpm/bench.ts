// bench/rpm: (1) resolve and download the closure of 30 packages from a repository of 5,000
// served by nginx on 127.0.0.1: ours against `dnf download --resolve --alldeps`, same run.
// (2) parsing generated primary.xml files of ~30 and ~50 MB (same packages): time and peak RSS.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from '../../buildchain/tools.ts';
import { buildTestRpms, createRepo, type TestRpm } from '../../test/rpm-fixtures.ts';
import { startNginxServer } from '../../test/servers.ts';
import { round } from '../engine/bench.ts';
import { compareInterleaved, median, type Timed } from '../hyperfine.ts';
import { run } from '../images.ts';
import { addFillers } from './synthetic-repo.ts';

const REQUESTED = 30;
const PACKAGES = 5000;
/** Rounds of one run each, ours and dnf in turn: the machine is shared and its speed drifts. */
const ROUNDS = 11;

export interface RpmBenchResults {
  closure: {
    requested: number;
    packages: number;
    repository: number;
    primaryBytes: number;
    downloadBytes: number;
    wall: Record<'ours' | 'dnf', Timed>;
    /** The median of each round's ours / dnf. */
    ratio: number;
  };
  parse: { primaryBytes: number; packages: number; seconds: number; maxRssMiB: number }[];
}

/** 30 apps, each needing one of 10 libraries and one of 5 tools; libraries need a core package. */
function realPackages(): TestRpm[] {
  return [
    ...Array.from(
      { length: REQUESTED },
      (_, i): TestRpm => ({
        name: `app${i}`,
        version: '1.0',
        arch: 'noarch',
        requires: [`lib${i % 10} >= 1.0`, `tool${i % 5}`],
        payloadBytes: 150_000,
      }),
    ),
    ...Array.from(
      { length: 10 },
      (_, i): TestRpm => ({
        name: `lib${i}`,
        version: '1.2',
        arch: 'noarch',
        requires: ['core'],
        payloadBytes: 300_000,
      }),
    ),
    ...Array.from(
      { length: 5 },
      (_, i): TestRpm => ({
        name: `tool${i}`,
        version: '2.0',
        arch: 'noarch',
        files: [`/usr/bin/tool${i}`],
        payloadBytes: 100_000,
      }),
    ),
    { name: 'core', version: '7.0', arch: 'noarch', payloadBytes: 500_000 },
  ];
}

function parseOnce(root: string, file: string) {
  const out = execFileSync(
    'node',
    [join(root, 'buildchain/launch/launch.cjs'), join(root, 'bench/rpm/parse.ts'), file],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as { packages: number; seconds: number; maxRssMiB: number };
}

export async function benchRpm(root: string): Promise<RpmBenchResults> {
  const work = join(root, 'bench', 'work', 'rpm');
  rmSync(work, { recursive: true, force: true });
  const repo = join(work, 'repo');
  mkdirSync(repo, { recursive: true });
  const real = realPackages();
  await buildTestRpms(join(work, 'rpmbuild'), repo, real);
  await createRepo(repo);
  const primaryBytes = addFillers(repo, PACKAGES - real.length);
  const downloadBytes = readdirSync(repo)
    .filter((name) => name.endsWith('.rpm'))
    .reduce((sum, name) => sum + statSync(join(repo, name)).size, 0);
  mkdirSync(join(work, 'nginx'));
  const nginx = await startNginxServer(join(work, 'nginx'), `root ${work};`);
  try {
    const url = `http://${nginx.host}/repo`;
    const names = Array.from({ length: REQUESTED }, (_, i) => `app${i}`).join(' ');
    const oursDir = join(work, 'ours');
    const dnfRoot = join(work, 'dnf');
    const ours = `node ${join(root, 'buildchain/launch/launch.cjs')} ${join(root, 'bench/rpm/resolve-download.ts')} ${url} ${oursDir} ${names}`;
    const dnf =
      `${requireExecutable('dnf')} -q -y --installroot=${dnfRoot} --releasever=7 --nogpgcheck --setopt=reposdir=/nonexistent ` +
      `--setopt=cachedir=${join(dnfRoot, 'cache')} --setopt=install_weak_deps=False --repofrompath=bench,${url} ` +
      `download --resolve --alldeps --destdir=${join(dnfRoot, 'out')} ${names}`;
    const prepare = `rm -rf ${oursDir} ${dnfRoot} && mkdir -p ${join(dnfRoot, 'out')}`;
    // One checked pass: both fetch the same closure (every real package).
    run(`${prepare} && ${dnf}`);
    const dnfCount = readdirSync(join(dnfRoot, 'out')).length;
    const oursCount = Number(execFileSync('sh', ['-c', ours], { encoding: 'utf8' }).trim());
    if (dnfCount !== real.length || oursCount !== real.length)
      throw new Error(`closures differ: dnf ${dnfCount}, ours ${oursCount}, expected ${real.length}`);
    const { timed, rounds } = compareInterleaved(
      [
        { name: 'ours', command: ours, prepare },
        { name: 'dnf', command: dnf, prepare },
      ],
      { rounds: ROUNDS, warmup: 1, workDir: work },
    );
    const wall = timed as RpmBenchResults['closure']['wall'];

    // The same 20,000 packages with short and long descriptions: memory follows the packages
    // kept, not the size of the XML.
    const parse: RpmBenchResults['parse'] = [];
    for (const description of [200, 1_300]) {
      const dir = join(work, `parse-${description}`);
      mkdirSync(dir);
      await createRepo(dir);
      const size = addFillers(dir, 20_000, description);
      const file = join(
        dir,
        'repodata',
        readdirSync(join(dir, 'repodata')).find((name) => name.endsWith('-primary.xml.gz'))!,
      );
      const runs = [parseOnce(root, file), parseOnce(root, file), parseOnce(root, file)].sort(
        (a, b) => a.seconds - b.seconds,
      );
      parse.push({ primaryBytes: size, ...runs[1]! });
    }
    return {
      closure: {
        requested: REQUESTED,
        packages: real.length,
        repository: PACKAGES,
        primaryBytes,
        downloadBytes,
        wall,
        ratio: round(median(rounds.map((r) => r.ours! / r.dnf!))),
      },
      parse,
    };
  } finally {
    await nginx.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export function rpmTable(r: RpmBenchResults): string {
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return [
    `Closure of ${r.closure.requested} packages (${r.closure.packages} with dependencies, ${mb(r.closure.downloadBytes)}) from a repository of ${r.closure.repository} (primary.xml ${mb(r.closure.primaryBytes)}), ${r.closure.wall.ours.runs} interleaved rounds: medians, and the median of the rounds' ratios:`,
    '',
    '| | ours | dnf download --resolve --alldeps | ours / dnf |',
    '|---|---:|---:|---:|',
    `| wall time, median | ${r.closure.wall.ours.median.toFixed(2)} s | ${r.closure.wall.dnf.median.toFixed(2)} s | ${r.closure.ratio} |`,
    `| wall time, minimum | ${r.closure.wall.ours.min.toFixed(2)} s | ${r.closure.wall.dnf.min.toFixed(2)} s | ${round(r.closure.wall.ours.min / r.closure.wall.dnf.min)} |`,
    '',
    '| primary.xml | packages | parse time | peak RSS |',
    '|---:|---:|---:|---:|',
    ...r.parse.map(
      (p) => `| ${mb(p.primaryBytes)} | ${p.packages} | ${p.seconds.toFixed(2)} s | ${Math.round(p.maxRssMiB)} MiB |`,
    ),
  ].join('\n');
}
