// bench/full: `./build.ts iso` of a project shaped like the e2e one, against local mirrors: the
// 10 images of bench/images.ts (~500 MB as pulled) in docker-registry, and a yum repository of
// 46 packages served by nginx. Cold (empty BUILD_ROOT and store) with the span of each phase
// from the JSON reporter, and warm (nothing changed, a no-op). The ISO write phase is set
// beside xorriso writing the same tree with upstream's flags and `cat` of its bytes, same run.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { phaseSpans, type JsonTaskReport } from '../../buildchain/engine/report.ts';
import { listFiles } from '../../buildchain/fs/walk.ts';
import { requireExecutable } from '../../buildchain/tools.ts';
import { buildTestRpms, createRepo, type TestRpm } from '../../test/rpm-fixtures.ts';
import { declaredRuntime, RUNTIME_CACHE } from '../../test/runtime-cache.ts';
import { startNginxServer } from '../../test/servers.ts';
import { round } from '../engine/bench.ts';
import { compare, type Timed } from '../hyperfine.ts';
import { pushBenchImages } from '../images.ts';
import { MKISOFS_FLAGS } from '../iso/bench.ts';

/** Task name prefixes of each phase; a phase's time is the span from its first start to its last end. */
export const PHASES = {
  pull: /^_image_pull:/,
  packages: /^(_resolve_rpm_packages|_download_rpm_packages|_build_rpm_repositories)/,
  isoWrite: /^_iso_build:/,
  checksums: /^_iso_digest/,
};

export interface FullBenchResults {
  inputs: { images: number; pulledBytes: number; packages: number; isoBytes: number };
  cold: { wall: number; phases: Record<string, number> };
  warm: Timed;
  isoWrite: { ours: number; xorriso: Timed; cat: Timed; vsXorriso: number; vsCat: number };
}

/** 30 apps needing 10 libraries and 5 tools, which need one core package: 46 packages, ~7 MiB. */
function packages(): TestRpm[] {
  return [
    ...Array.from(
      { length: 30 },
      (_, i): TestRpm => ({
        name: `app${i}`,
        version: '1.0',
        arch: 'noarch',
        requires: [`lib${i % 10}`, `tool${i % 5}`],
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
        payloadBytes: 200_000,
      }),
    ),
    ...Array.from(
      { length: 5 },
      (_, i): TestRpm => ({ name: `tool${i}`, version: '2.0', arch: 'noarch', payloadBytes: 100_000 }),
    ),
    { name: 'core', version: '7.0', arch: 'noarch', payloadBytes: 500_000 },
  ];
}

function build(root: string, project: string): { wall: number; tasks: JsonTaskReport[] } {
  const start = process.hrtime.bigint();
  const result = spawnSync(
    'node',
    [
      join(root, 'buildchain/launch/launch.cjs'),
      join(root, 'build.ts'),
      '-f',
      join(project, 'tasks.ts'),
      '--reporter',
      'json',
      'iso',
    ],
    { encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0)
    throw new Error(`./build.ts iso failed (exit ${result.status}):\n${result.stderr}\n${result.stdout.slice(-4000)}`);
  return { wall, tasks: (JSON.parse(result.stdout) as { tasks: JsonTaskReport[] }).tasks };
}

const phases = (tasks: JsonTaskReport[]) => phaseSpans(tasks, PHASES);

export async function benchFull(root: string): Promise<FullBenchResults> {
  const work = join(root, 'bench', 'work', 'full');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const { registry, images, pulledBytes } = await pushBenchImages(work);
  const repo = join(work, 'repo');
  mkdirSync(join(work, 'nginx'), { recursive: true });
  const declared = packages();
  await buildTestRpms(join(work, 'rpmbuild'), repo, declared);
  await createRepo(repo);
  const nginx = await startNginxServer(join(work, 'nginx'), `root ${work};`);
  try {
    const project = join(work, 'project');
    const write = (file: string, text: string) => {
      mkdirSync(join(project, file, '..'), { recursive: true });
      writeFileSync(join(project, file), text);
    };
    write('VERSION', 'VERSION_MAJOR=2\nVERSION_MINOR=4\nVERSION_PATCH=1\nVERSION_SUFFIX=-dev\n');
    write('tasks.ts', `export { project } from '${join(root, 'tasks/index.ts')}';\n`);
    write(
      'images/images.yaml',
      `remote:\n${images
        .map(
          (image, i) =>
            `  - {name: image${i}, image: registry.invalid/${image.repository}, version: "${image.tag}", digest: "${image.digest}"}`,
        )
        .join('\n')}\n`,
    );
    write(
      'packages-rpm/packages.yaml',
      `repositories:\n  - {name: bench, baseurl: "https://repo.invalid/bench"}\npackages:\n${declared
        .filter((pkg) => pkg.name.startsWith('app'))
        .map((pkg) => `  - {name: ${pkg.name}}`)
        .join('\n')}\n`,
    );
    write('salt-tree/top.sls', 'base: {}\n');
    // The agent's runtime, served as an npm registry serves it (npm run fetch:runtime got it).
    const runtime = declaredRuntime();
    write('runtime/node.yaml', readFileSync(runtime.file, 'utf8'));
    mkdirSync(join(work, 'npm', runtime.name, '-'), { recursive: true });
    copyFileSync(
      join(RUNTIME_CACHE, `${runtime.name}-${runtime.version}.tgz`),
      join(work, 'npm', runtime.name, '-', `${runtime.name}-${runtime.version}.tgz`),
    );
    write(
      '.env',
      `METALK8S_SOURCE=none\nREGISTRY_MIRRORS=registry.invalid=${registry.host}\nYUM_MIRROR_BENCH=http://${nginx.host}/repo\nNPM_REGISTRY=http://${nginx.host}/npm\n` +
        'SOURCE_DATE_EPOCH=1600000000\nBUILD_HOST=bench\n',
    );

    const cold = build(root, project);
    const isoFile = join(project, '_build/metalk8s.iso');
    const warmCommand = `node ${join(root, 'buildchain/launch/launch.cjs')} ${join(root, 'build.ts')} -f ${join(project, 'tasks.ts')} iso`;
    const warm = compare([{ name: 'warm', command: warmCommand }], { runs: 10, warmup: 1, workDir: work }).warm!;

    // The ISO write against the anchors, on the tree the build left.
    const tree = join(project, '_build/root');
    const xorrisoIso = join(work, 'xorriso.iso');
    // Each file once, as the ISO stores it: a hard-linked layer counts once.
    const inodes = new Set<string>();
    const files = listFiles(tree)
      .map((file) => join(tree, file))
      .filter((file) => {
        const { dev, ino } = statSync(file);
        const key = `${dev}:${ino}`;
        return !inodes.has(key) && Boolean(inodes.add(key));
      });
    const list = join(work, 'files.txt');
    writeFileSync(list, `${files.join('\n')}\n`);
    const anchors = compare(
      [
        {
          name: 'xorriso',
          command: `${requireExecutable('xorriso')} -as mkisofs ${MKISOFS_FLAGS.map((flag) => `'${flag}'`).join(' ')} -o ${xorrisoIso} ${tree}`,
          prepare: `rm -f ${xorrisoIso}`,
        },
        {
          name: 'cat',
          command: `xargs -d '\\n' cat < ${list} > ${join(work, 'cat.out')}`,
          prepare: `rm -f ${join(work, 'cat.out')}`,
        },
      ],
      { runs: 3, warmup: 1, workDir: work },
    );
    const isoPhase = phases(cold.tasks).isoWrite!;
    return {
      inputs: { images: images.length, pulledBytes, packages: declared.length, isoBytes: statSync(isoFile).size },
      cold: { wall: round(cold.wall), phases: phases(cold.tasks) },
      warm,
      isoWrite: {
        ours: isoPhase,
        xorriso: anchors.xorriso!,
        cat: anchors.cat!,
        vsXorriso: round(isoPhase / anchors.xorriso!.median),
        vsCat: round(isoPhase / anchors.cat!.median),
      },
    };
  } finally {
    await nginx.stop();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export function fullTable(r: FullBenchResults): string {
  const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
  const p = r.cold.phases;
  return [
    `${r.inputs.images} images (${mb(r.inputs.pulledBytes)} as pulled) from docker-registry and ${r.inputs.packages} packages from nginx, ` +
      `all on 127.0.0.1; ISO of ${mb(r.inputs.isoBytes)}.`,
    '',
    '| build | wall time | pull | packages | ISO write | checksums |',
    '|---|---:|---:|---:|---:|---:|',
    `| cold (empty store) | ${r.cold.wall.toFixed(2)} s | ${p.pull} s | ${p.packages} s | ${p.isoWrite} s | ${p.checksums} s |`,
    `| warm (no-op), median of ${r.warm.runs} | ${r.warm.median.toFixed(2)} s | | | | |`,
    '',
    `ISO write: ours ${r.isoWrite.ours} s in the cold build, xorriso -as mkisofs on the same tree ${r.isoWrite.xorriso.median.toFixed(2)} s ` +
      `(${r.isoWrite.vsXorriso}x), cat of the same files ${r.isoWrite.cat.median.toFixed(2)} s (${r.isoWrite.vsCat}x).`,
  ].join('\n');
}
