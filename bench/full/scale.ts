// bench/full at MetalK8s 2.4's scale (issue #27): the demo's inputs of size `metalk8s` (26 images,
// about 2 GB as pulled, 600 packages, served on 127.0.0.1) built with `./build.ts iso` in rounds.
// Each round: a cold build (empty BUILD_ROOT and store), the floors of the cold build and of its
// phases, the no-op, a rebuild after one image's digest changed, and that rebuild's floor. Every
// figure is ours against its floor in the same round; a figure is the median of the rounds' own
// ratios, since this machine's speed drifts over minutes. BENCH_SIZE=small for a quick run.
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { phaseSpans } from '../../buildchain/engine/report.ts';
import { loadPackageDeclarations } from '../../buildchain/rpm/declarations.ts';
import { buildRpms, buildSrpm } from '../../buildchain/rpm/rpmbuild.ts';
import { requireExecutable } from '../../buildchain/tools.ts';
import { PHASES as DEMO_PHASES, type JsonRun } from '../../demo/build.ts';
import { prepareDemo, type Demo } from '../../demo/inputs.ts';
import { round } from '../engine/bench.ts';
import { compare, median } from '../hyperfine.ts';
import { absoluteFigure, curlConfig, ratioFigure, type AbsoluteFigure, type RatioFigure } from './floor.ts';

const ROUNDS = 3;
/** Runs of each floor part in a round, its median the part's time: one run of a tool swings with the machine's load. */
const FLOOR_RUNS = 3;
/** Issue #27's goals: a ratio to the floor at most this, or (the no-op) at most this many seconds. */
export const GOALS = { cold: 1.5, noop: 0.15, rebuild: 1.3, pull: 1.5, packages: 1.5, isoWrite: 1.1 };
/** The phases, each the span of its tasks in the JSON report. */
const PHASES = {
  pull: /^_image_pull:/,
  packages: DEMO_PHASES.packages,
  isoWrite: DEMO_PHASES['ISO write'],
  checksums: /^_iso_digest/,
};
type Phase = keyof typeof PHASES;

export interface ScaleResults {
  size: string;
  inputs: {
    images: number;
    pulledBytes: number;
    uniqueBytes: number;
    packages: number;
    isoBytes: number;
    /** The image whose digest the rebuild changes, and the bytes its second version adds. */
    changedImage: string;
    changedBytes: number;
  };
  /** Downloads at once, for us (PULL_JOBS' default) and for curl. */
  pullJobs: number;
  cores: number;
  /**
   * Per round: the 1-minute load average when it started (the machine is shared), the cold build's
   * phases, the tasks the rebuild ran, and CPU seconds (user + system, children included) of our
   * runs (the no-op's a mean) and of each floor part (a mean of its runs).
   */
  rounds: {
    load: number;
    phases: Record<Phase, number>;
    rebuildTasks: number;
    cpu: { cold: number; noop: number; rebuild: number; floor: Record<string, number> };
  }[];
  /** Floor: the slower of curl of every distinct byte and `openssl dgst -sha256` of the ISO. */
  cold: RatioFigure;
  noop: AbsoluteFigure;
  /** Floor: curl of the changed image's new blobs, then writing and hashing the ISO in one pass. */
  rebuild: RatioFigure;
  phases: { pull: RatioFigure; packages: RatioFigure; isoWrite: RatioFigure };
}

const ACCEPT =
  'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

export async function benchFullScale(root: string): Promise<ScaleResults> {
  const size = process.env.BENCH_SIZE ?? 'metalk8s';
  const work = join(root, 'bench', 'work', 'full-scale');
  const say = (line: string) => process.stderr.write(`bench/full scale: ${line}\n`);
  const demo = await prepareDemo(work, size, say);
  const floorDir = join(work, 'floor');
  try {
    const pullJobs = Number(
      (
        JSON.parse(readFileSync(join(root, 'tasks/settings.schema.json'), 'utf8')) as {
          properties: { PULL_JOBS: { default: string } };
        }
      ).properties.PULL_JOBS.default,
    );
    const cores = availableParallelism();
    const curl = requireExecutable('curl');
    const openssl = requireExecutable('openssl');
    const createrepo = requireExecutable('createrepo_c');
    const sde = '1600000000'; // the demo's SOURCE_DATE_EPOCH
    const iso = join(demo.buildRoot, 'metalk8s.iso');
    const noopCommand = demoBuild(root, demo, ['iso']).join(' ');

    // The URLs a cold build fetches, by phase: image blobs and manifests, packages.
    const all = lines(demo.fetchList);
    const imageUrls = all.filter((url) => url.includes('/v2/'));
    const rpmUrls = all.filter((url) => new URL(url).pathname.startsWith('/repo/'));
    const configs = {
      all: write(join(work, 'curl-all.conf'), curlConfig(all)),
      images: write(join(work, 'curl-images.conf'), curlConfig(imageUrls, join(floorDir, 'blobs'))),
      rpms: write(join(work, 'curl-rpms.conf'), curlConfig(rpmUrls, join(floorDir, 'repo', 'demo'))),
      second: write(join(work, 'curl-second.conf'), curlConfig(lines(demo.secondFetchList), join(floorDir, 'second'))),
    };
    const curlCommand = (config: string) =>
      `${curl} -sSf --parallel --parallel-max ${pullJobs} -H '${ACCEPT}' -K ${config}`;
    const floorCpu: Record<string, number> = {};
    /**
     * A floor part: the median wall time of FLOOR_RUNS runs of a shell command with hyperfine, each
     * after `prepare` and with the page cache's dirty pages written; its mean CPU time kept by key.
     */
    const time = (key: string, name: string, command: string, prepare = 'true') => {
      const timed = compare([{ name, command, prepare: `${prepare} && sync` }], {
        runs: FLOOR_RUNS,
        warmup: 0,
        workDir: work,
      })[name]!;
      floorCpu[key] = timed.cpu!;
      return timed.median;
    };
    const emptied = (dir: string) => `rm -rf ${dir} && mkdir -p ${dir}`;

    const specs = loadPackageDeclarations(join(demo.project, 'packages-rpm', 'packages.yaml')).build;
    const measured: {
      load: number;
      cpu: ScaleResults['rounds'][number]['cpu'];
      cold: number;
      phases: Record<Phase, number>;
      floor: Record<string, number>;
      noop: number;
      rebuild: number;
      rebuildTasks: number;
      rebuildFloor: Record<string, number>;
    }[] = [];
    // Once before the rounds: the servers' files into the page cache, as every later round finds them.
    time('warmUp', 'curl, warm-up', curlCommand(configs.all));
    delete floorCpu.warmUp;
    for (let i = 0; i < ROUNDS; i += 1) {
      const load = loadavg()[0]!;
      say(`round ${i + 1} of ${ROUNDS}: cold build (load average ${load.toFixed(1)})`);
      demo.useVersion(0);
      rmSync(demo.buildRoot, { recursive: true, force: true });
      rmSync(join(demo.project, 'images', 'images.lock.yaml'), { force: true }); // as on the first build
      spawnSync('sync');
      const cold = timedBuild(root, demo, join(work, 'time.txt'));
      const phases = phaseSpans(cold.report.tasks, PHASES);

      say(`round ${i + 1}: floors`);
      const floor: Record<string, number> = {};
      floor.curlAll = time('curlAll', 'curl of every distinct byte', curlCommand(configs.all));
      floor.isoSha256 = time('isoSha256', 'openssl sha256 of the ISO', `${openssl} dgst -sha256 ${iso}`);
      floor.pullCurl = time(
        'pullCurl',
        'curl of the image blobs',
        curlCommand(configs.images),
        emptied(join(floorDir, 'blobs')),
      );
      floor.pullSha256 = time(
        'pullSha256',
        'openssl sha256 of the image blobs',
        `find ${join(floorDir, 'blobs')} -type f -print0 | xargs -0 -P ${cores} -n 4 ${openssl} dgst -sha256 > /dev/null`,
      );
      floor.packagesCurl = time(
        'packagesCurl',
        'curl of the packages',
        curlCommand(configs.rpms),
        emptied(join(floorDir, 'repo', 'demo')),
      );
      const rpmbuilds: number[] = [];
      for (let run = 0; run < FLOOR_RUNS; run += 1)
        rpmbuilds.push(await specBuilds(demo, specs, join(floorDir, 'rpmbuild'), join(floorDir, 'repo', 'scality')));
      floor.rpmbuild = median(rpmbuilds);
      const repos = ['demo', 'scality'].map((repo) => join(floorDir, 'repo', repo));
      floor.createrepo = time(
        'createrepo',
        'createrepo_c of the repositories',
        repos
          .map((dir) => `${createrepo} --no-database --quiet --revision ${sde} --set-timestamp-to-revision ${dir}`)
          .join(' && '),
        `rm -rf ${repos.map((dir) => join(dir, 'repodata')).join(' ')}`,
      );
      rmSync(floorDir, { recursive: true, force: true });

      say(`round ${i + 1}: no-op`);
      const noop = compare([{ name: 'noop', command: noopCommand }], { runs: 5, warmup: 1, workDir: work }).noop!;

      say(`round ${i + 1}: rebuild after ${demo.inputs.second.image}'s digest changed`);
      const coldIso = statSync(iso).mtimeMs;
      demo.useVersion(1);
      spawnSync('sync');
      const rebuild = timedBuild(root, demo, join(work, 'time.txt'));
      checkRebuild(rebuild.report, demo, iso, coldIso);
      const copy = join(work, 'iso-copy');
      const rebuildFloor = {
        curl: time(
          'rebuildCurl',
          `curl of ${demo.inputs.second.image}'s new blobs`,
          curlCommand(configs.second),
          emptied(join(floorDir, 'second')),
        ),
        writeSha256: time(
          'rebuildWriteSha256',
          'the ISO written and hashed in one pass',
          `tee ${copy} < ${iso} | ${openssl} dgst -sha256 > /dev/null`,
          `rm -f ${copy}`,
        ),
      };
      rmSync(copy, { force: true });
      rmSync(floorDir, { recursive: true, force: true });
      measured.push({
        load,
        cpu: { cold: cold.cpu, noop: noop.cpu!, rebuild: rebuild.cpu, floor: { ...floorCpu } },
        cold: cold.seconds,
        phases,
        floor,
        noop: noop.median,
        rebuild: rebuild.seconds,
        rebuildTasks: rebuild.report.tasks.filter((task) => task.executed).length,
        rebuildFloor,
      });
      say(
        `round ${i + 1}: cold ${cold.seconds.toFixed(2)} s, no-op ${noop.median.toFixed(2)} s, rebuild ${rebuild.seconds.toFixed(2)} s`,
      );
    }
    const changedBytes = lines(demo.secondFetchList).reduce((sum, url) => sum + contentLength(curl, url), 0);
    return {
      size,
      inputs: {
        images: demo.inputs.images,
        pulledBytes: demo.inputs.pulledBytes,
        uniqueBytes: demo.inputs.uniqueBytes,
        packages: demo.inputs.packages,
        isoBytes: statSync(iso).size,
        changedImage: demo.inputs.second.image,
        changedBytes,
      },
      pullJobs,
      cores,
      rounds: measured.map((m) => ({
        load: Math.round(m.load * 100) / 100,
        phases: m.phases,
        rebuildTasks: m.rebuildTasks,
        cpu: {
          cold: round(m.cpu.cold),
          noop: round(m.cpu.noop),
          rebuild: round(m.cpu.rebuild),
          floor: Object.fromEntries(Object.entries(m.cpu.floor).map(([key, value]) => [key, round(value)])),
        },
      })),
      cold: ratioFigure(
        measured.map((m) => ({ ours: m.cold, parts: { curl: m.floor.curlAll!, sha256: m.floor.isoSha256! } })),
        'max',
        GOALS.cold,
      ),
      noop: absoluteFigure(
        measured.map((m) => m.noop),
        GOALS.noop,
      ),
      rebuild: ratioFigure(
        measured.map((m) => ({ ours: m.rebuild, parts: m.rebuildFloor })),
        'sum',
        GOALS.rebuild,
      ),
      phases: {
        pull: ratioFigure(
          measured.map((m) => ({
            ours: m.phases.pull,
            parts: { curl: m.floor.pullCurl!, sha256: m.floor.pullSha256! },
          })),
          'sum',
          GOALS.pull,
        ),
        packages: ratioFigure(
          measured.map((m) => ({
            ours: m.phases.packages,
            parts: { curl: m.floor.packagesCurl!, rpmbuild: m.floor.rpmbuild!, createrepo: m.floor.createrepo! },
          })),
          'sum',
          GOALS.packages,
        ),
        isoWrite: ratioFigure(
          measured.map((m) => ({ ours: m.phases.isoWrite, parts: { sha256: m.floor.isoSha256! } })),
          'max',
          GOALS.isoWrite,
        ),
      },
    };
  } finally {
    demo.useVersion(0);
    await demo.stop();
    rmSync(work, { recursive: true, force: true }); // 2 GB of generated inputs
  }
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);

function write(file: string, text: string): string {
  writeFileSync(file, text);
  return file;
}

/** The command line of `./build.ts ARGS` on the demo's project, through the launcher. */
function demoBuild(root: string, demo: Demo, args: readonly string[]): string[] {
  return [
    'node',
    join(root, 'buildchain/launch/launch.cjs'),
    join(root, 'build.ts'),
    '-f',
    join(demo.project, 'tasks.ts'),
    ...args,
  ];
}

/** `./build.ts iso --reporter json` of the demo's project under GNU time: wall and CPU seconds, and its report. */
function timedBuild(root: string, demo: Demo, timeFile: string): { seconds: number; cpu: number; report: JsonRun } {
  const command = demoBuild(root, demo, ['--reporter', 'json', 'iso']);
  const started = process.hrtime.bigint();
  const run = spawnSync(requireExecutable('time'), ['-f', '%U %S', '-o', timeFile, ...command], {
    encoding: 'utf8',
    maxBuffer: 512 << 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let report: JsonRun | undefined;
  try {
    report = JSON.parse(run.stdout) as JsonRun;
  } catch {
    // no report: said below
  }
  if (run.status !== 0 || !report?.ok) {
    const failed = report?.tasks
      .filter((task) => task.result === 'fail')
      .map((task) => `  ${task.name}: ${task.error}`);
    throw new Error(`./build.ts iso failed (exit ${run.status}):\n${failed?.join('\n') ?? run.stdout.slice(-4000)}`);
  }
  const [user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { seconds, cpu: user! + system!, report };
}

/** The rebuild pulled the changed image and no other, and wrote another ISO. */
function checkRebuild(report: JsonRun, demo: Demo, iso: string, coldIsoMtime: number): void {
  const pulled = report.tasks.filter((task) => task.executed && task.name.startsWith('_image_pull:'));
  const expected = `_image_pull:${demo.inputs.second.image}`;
  if (pulled.length !== 1 || pulled[0]!.name !== expected)
    throw new Error(
      `the rebuild ran ${pulled.map((task) => task.name).join(', ') || 'no pull'}, not ${expected} alone`,
    );
  if (statSync(iso).mtimeMs === coldIsoMtime) throw new Error(`the rebuild left ${iso} as it was`);
}

/**
 * The spec builds' rpmbuild alone, as the build drives it (source package, then binary packages
 * in a topdir of their own), from the sources the cold build placed; the specs side by side, as
 * the build's workers may run them. Their packages are copied into `repo`. Answers the seconds.
 */
async function specBuilds(
  demo: Demo,
  specs: ReturnType<typeof loadPackageDeclarations>['build'],
  dir: string,
  repo: string,
): Promise<number> {
  const rpmbuild = requireExecutable('rpmbuild');
  rmSync(dir, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
  for (const pkg of specs) {
    mkdirSync(join(dir, pkg.name), { recursive: true });
    cpSync(join(demo.buildRoot, 'rpmbuild', pkg.name, 'SOURCES'), join(dir, pkg.name, 'SOURCES'), { recursive: true });
  }
  spawnSync('sync');
  const signal = new AbortController().signal;
  const started = process.hrtime.bigint();
  const built = await Promise.all(
    specs.map(async (pkg) => {
      const options = { rpmbuild, topdir: join(dir, pkg.name), sourceDateEpoch: 1600000000, signal };
      const srpm = await buildSrpm(pkg, options);
      return buildRpms(srpm, { ...options, topdir: join(dir, pkg.name, 'rebuild') });
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  mkdirSync(repo, { recursive: true });
  for (const rpm of built.flat()) copyFileSync(rpm, join(repo, basename(rpm)));
  if (readdirSync(repo).length === 0) throw new Error('the spec builds made no package');
  return seconds;
}

/** A URL's size from a HEAD request (the registry answers HEAD on blobs and manifests). */
function contentLength(curl: string, url: string): number {
  const head = spawnSync(curl, ['-sSfI', '-H', ACCEPT, url], { encoding: 'utf8' });
  const match = /^content-length:\s*(\d+)/im.exec(head.stdout);
  if (head.status !== 0 || !match) throw new Error(`HEAD ${url} failed: ${head.stderr}`);
  return Number(match[1]);
}

export function scaleTable(r: ScaleResults): string {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  const s = (seconds: number) => `${seconds.toFixed(2)} s`;
  const parts = (figure: RatioFigure, names: Record<string, string>) => {
    const each = Object.entries(names).map(
      ([key, label]) => `${label} ${s(median(figure.rounds.map((x) => x.parts[key]!)))}`,
    );
    return figure.combine === 'sum' || each.length === 1 ? each.join(' + ') : `the slower of ${each.join('; ')}`;
  };
  const row = (label: string, figure: RatioFigure, floor: string) =>
    `| ${label} | ${s(figure.ours)} | ${s(figure.floor)} | ${floor} | ${figure.rounds.map((x) => x.ratio.toFixed(2)).join(', ')} | **${figure.ratio.toFixed(2)}x** | <= ${figure.goal}x | ${figure.holds ? 'holds' : 'not met'} |`;
  return [
    `Size \`${r.size}\` of the demo's inputs: ${r.inputs.images} images (${gib(r.inputs.pulledBytes)} as pulled), ` +
      `${r.inputs.packages} packages; ${gib(r.inputs.uniqueBytes)} of distinct bytes; ISO of ${gib(r.inputs.isoBytes)}. ` +
      `${r.rounds.length} rounds; curl at ${r.pullJobs} transfers (PULL_JOBS), sha256 of the blobs on ${r.cores} cores.`,
    '',
    '| figure | ours (median) | floor (median) | floor made of (medians) | ratio per round | ratio (median of rounds) | goal | |',
    '|---|---:|---:|---|---:|---:|---:|---|',
    row(
      'cold build',
      r.cold,
      parts(r.cold, { curl: 'curl of every distinct byte', sha256: 'openssl sha256 of the ISO' }),
    ),
    row(
      `rebuild, ${r.inputs.changedImage}'s digest changed`,
      r.rebuild,
      parts(r.rebuild, {
        curl: `curl of its new blobs (${(r.inputs.changedBytes / 2 ** 20).toFixed(0)} MiB)`,
        writeSha256: 'the ISO through `tee` into a file and `openssl dgst -sha256`',
      }),
    ),
    row(
      'pull phase',
      r.phases.pull,
      parts(r.phases.pull, { curl: 'curl of the image blobs into files', sha256: 'openssl sha256 of them' }),
    ),
    row(
      'packages phase',
      r.phases.packages,
      parts(r.phases.packages, {
        curl: 'curl of the RPMs',
        rpmbuild: 'rpmbuild of the 2 specs',
        createrepo: 'createrepo_c of the 2 repositories',
      }),
    ),
    row('ISO write phase', r.phases.isoWrite, parts(r.phases.isoWrite, { sha256: 'openssl sha256 of the ISO' })),
    `| no-op, median of 5 a round | ${s(r.noop.seconds)} | | | ${r.noop.rounds.map((x) => x.toFixed(2)).join(', ')} s | | <= ${r.noop.goal} s | ${r.noop.holds ? 'holds' : 'not met'} |`,
    '',
    '| round | load average | cold build (CPU) | pull | packages | ISO write | checksums | no-op (CPU) | rebuild (CPU) | rebuild: tasks run |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rounds.map(
      (x, i) =>
        `| ${i + 1} | ${x.load.toFixed(1)} | ${s(r.cold.rounds[i]!.ours)} (${s(x.cpu.cold)}) | ${s(x.phases.pull)} | ${s(x.phases.packages)} | ${s(x.phases.isoWrite)} | ${s(x.phases.checksums)} | ${s(r.noop.rounds[i]!)} (${s(x.cpu.noop)}) | ${s(r.rebuild.rounds[i]!.ours)} (${s(x.cpu.rebuild)}) | ${x.rebuildTasks} |`,
    ),
  ].join('\n');
}
