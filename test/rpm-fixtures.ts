// Real RPMs for tests and benchmarks, built with rpmbuild from generated spec files (one spec
// per version of a name; the other packages as subpackages of one spec, so a family builds in
// a few rpmbuild runs), and yum repositories made with createrepo_c.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { requireExecutable } from '../buildchain/tools.ts';

const run = promisify(execFile);

export interface TestRpm {
  name: string;
  version: string;
  release?: string;
  epoch?: number;
  arch: 'noarch' | 'x86_64';
  requires?: string[];
  provides?: string[];
  /** Files the package owns (each gets a line of text); /usr/share/<name>/README always. */
  files?: string[];
  /** Bytes of random payload (/usr/share/<name>/payload), for realistic download sizes. */
  payloadBytes?: number;
}

function preamble(rpm: TestRpm): string[] {
  return [
    `Version: ${rpm.version}`,
    `Release: ${rpm.release ?? '1'}`,
    ...(rpm.epoch !== undefined ? [`Epoch: ${rpm.epoch}`] : []),
    `Summary: test package ${rpm.name}`,
    ...(rpm.arch === 'noarch' ? ['BuildArch: noarch'] : []),
    ...(rpm.requires ?? []).map((req) => `Requires: ${req}`),
    ...(rpm.provides ?? []).map((cap) => `Provides: ${cap}`),
  ];
}

function payload(rpm: TestRpm): { install: string[]; files: string[] } {
  const files = [`/usr/share/${rpm.name}/README`, ...(rpm.files ?? [])];
  const random = rpm.payloadBytes ? `/usr/share/${rpm.name}/payload` : undefined;
  return {
    install: [
      ...files.flatMap((file) => [
        `mkdir -p %{buildroot}$(dirname ${file})`,
        `echo '${rpm.name}-${rpm.version} ${file}' > %{buildroot}${file}`,
      ]),
      ...(random ? [`head -c ${rpm.payloadBytes} /dev/urandom > %{buildroot}${random}`] : []),
    ],
    files: [...files, ...(random ? [random] : [])],
  };
}

/**
 * One spec: the first package as main package, the others as subpackages (`-n name`). Subpackages
 * may only be noarch, or of the main package's arch (built with --target x86_64): x86_64 first.
 */
function specOf(rpms: TestRpm[]): string {
  const [main, ...subs] = [...rpms].sort((a, b) => (a.arch === b.arch ? 0 : a.arch === 'x86_64' ? -1 : 1));
  const lines = [
    '%global debug_package %{nil}',
    '%global _build_id_links none',
    `Name: ${main!.name}`,
    ...preamble(main!),
    'License: MIT',
    '',
    '%description',
    `${main!.name}`,
    '',
  ];
  for (const sub of subs)
    lines.push(`%package -n ${sub.name}`, ...preamble(sub), '', `%description -n ${sub.name}`, sub.name, '');
  lines.push('%install', ...rpms.flatMap((rpm) => payload(rpm).install), '');
  lines.push('%files', ...payload(main!).files, '');
  for (const sub of subs) lines.push(`%files -n ${sub.name}`, ...payload(sub).files, '');
  return lines.join('\n');
}

/**
 * Builds the packages into `out` (flat) and returns their file names. Packages sharing a name
 * (several versions) go to separate specs.
 */
export async function buildTestRpms(work: string, out: string, rpms: readonly TestRpm[]): Promise<string[]> {
  const rpmbuild = requireExecutable('rpmbuild');
  const groups: TestRpm[][] = [];
  for (const rpm of rpms) {
    const group = groups.find((candidate) => candidate.every((other) => other.name !== rpm.name));
    if (group) group.push(rpm);
    else groups.push([rpm]);
  }
  mkdirSync(out, { recursive: true });
  await Promise.all(
    groups.map(async (group, index) => {
      const topdir = join(work, `rpmbuild-${index}`);
      mkdirSync(join(topdir, 'SPECS'), { recursive: true });
      const spec = join(topdir, 'SPECS', 'test.spec');
      writeFileSync(spec, specOf(group));
      await run(rpmbuild, [
        '--define',
        `_topdir ${topdir}`,
        '--define',
        `_rpmdir ${out}`,
        '--define',
        '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
        '--define',
        '_binary_payload w1.gzdio',
        '--target',
        'x86_64',
        '--nodeps',
        '-bb',
        spec,
      ]);
    }),
  );
  return readdirSync(out)
    .filter((name) => name.endsWith('.rpm'))
    .sort();
}

/** createrepo_c over `dir`, sha256 checksums, no sqlite. */
export async function createRepo(dir: string): Promise<void> {
  await run(requireExecutable('createrepo_c'), ['--no-database', '--quiet', dir]);
}

/**
 * An rpm database at `dbpath` listing `rpms` (their headers only, as `rpm --justdb` records
 * them): SQLite, or the Berkeley DB `Packages` file of CentOS 7, which rpm can no longer write.
 * That one is made from the SQLite database's headers with db_load: one hash record per header,
 * keyed by its instance number (native byte order), and record 0 holding the next instance.
 */
export async function rpmDatabase(dbpath: string, rpms: readonly string[], format: 'sqlite' | 'bdb'): Promise<void> {
  const rpm = requireExecutable('rpm');
  const sqliteDir = format === 'sqlite' ? dbpath : join(dbpath, '..', `${basename(dbpath)}.sqlite`);
  await run(rpm, ['--dbpath', sqliteDir, '--initdb']);
  await run(rpm, ['--dbpath', sqliteDir, '-i', '--justdb', '--nodeps', '--noscripts', '--ignorearch', ...rpms]);
  if (format === 'sqlite') return;
  const { stdout } = await run(
    requireExecutable('sqlite3'),
    [join(sqliteDir, 'rpmdb.sqlite'), 'SELECT hnum, hex(blob) FROM Packages ORDER BY hnum'],
    { maxBuffer: 1 << 26 },
  );
  const key = (n: number) => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(n);
    return bytes.toString('hex');
  };
  const records = stdout
    .trim()
    .split('\n')
    .map((line) => line.split('|') as [string, string]);
  const next = Math.max(...records.map(([hnum]) => Number(hnum))) + 1;
  const dump = [
    'VERSION=3',
    'format=bytevalue',
    'type=hash',
    'HEADER=END',
    ...records.flatMap(([hnum, blob]) => [` ${key(Number(hnum))}`, ` ${blob.toLowerCase()}`]),
    ` ${key(0)}`,
    ` ${key(next)}`,
    'DATA=END',
    '',
  ].join('\n');
  const dumpFile = `${sqliteDir}.dump`;
  mkdirSync(dbpath, { recursive: true });
  writeFileSync(dumpFile, dump);
  await run(requireExecutable('db5.3_load'), ['-f', dumpFile, join(dbpath, 'Packages')]);
  rmSync(sqliteDir, { recursive: true });
  rmSync(dumpFile);
}
