// Two yum repositories of real test RPMs served by real nginx on 127.0.0.1 (`os`, priority 10, and
// `extra`, priority 20), shaped to exercise dependency resolution, and dnf run against them.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool, tempDir } from './helpers.ts';
import { buildTestRpms, createRepo, type TestRpm } from './rpm-fixtures.ts';
import { startNginx } from './servers-for-tests.ts';

const run = promisify(execFile);

/**
 * app needs: libfoo >= 2.0 (os has 1.5 and 2.3, extra has 3.0: priorities keep os's 2.3), a file
 * of helper (listed in primary.xml) which needs a file of data (only in filelists.xml),
 * config-data (0:9.0 and 1:0.5: the epoch wins), webui from extra, which needs the virtual
 * httpd-server that tinyhttpd provides, and base-os-lib (what an OS already has). unrelated is
 * never needed.
 */
export const OS_RPMS: TestRpm[] = [
  {
    name: 'app',
    version: '1.0',
    arch: 'x86_64',
    requires: ['libfoo >= 2.0', '/usr/bin/helper-tool', 'config-data', 'webui', 'base-os-lib'],
    files: ['/usr/bin/app'],
  },
  { name: 'libfoo', version: '1.5', arch: 'x86_64' },
  { name: 'libfoo', version: '2.3', arch: 'x86_64' },
  {
    name: 'helper',
    version: '1.0',
    arch: 'noarch',
    requires: ['/opt/helper/lib/data.txt'],
    files: ['/usr/bin/helper-tool'],
  },
  { name: 'data', version: '1.0', arch: 'noarch', files: ['/opt/helper/lib/data.txt'] },
  { name: 'config-data', version: '9.0', arch: 'noarch' },
  { name: 'config-data', version: '0.5', epoch: 1, arch: 'noarch' },
  { name: 'base-os-lib', version: '1.0', arch: 'x86_64' },
  { name: 'unrelated', version: '1.0', arch: 'noarch' },
];
export const EXTRA_RPMS: TestRpm[] = [
  { name: 'webui', version: '2.0', arch: 'noarch', requires: ['httpd-server'] },
  { name: 'tinyhttpd', version: '1.0', arch: 'noarch', provides: ['httpd-server'] },
  { name: 'libfoo', version: '3.0', arch: 'x86_64' },
];
export const APP_CLOSURE = [
  'app-1.0-1.x86_64.rpm',
  'base-os-lib-1.0-1.x86_64.rpm',
  'config-data-0.5-1.noarch.rpm',
  'data-1.0-1.noarch.rpm',
  'helper-1.0-1.noarch.rpm',
  'libfoo-2.3-1.x86_64.rpm',
  'tinyhttpd-1.0-1.noarch.rpm',
  'webui-2.0-1.noarch.rpm',
];

export interface ServedRepos {
  /** Directory holding os/ and extra/. */
  root: string;
  host: string;
  url(repo: string): string;
}

export async function serveTestRepos(): Promise<ServedRepos> {
  const root = join(tempDir('mk8s-yum-'), 'repos');
  const work = tempDir('mk8s-rpmbuild-');
  await Promise.all([
    buildTestRpms(join(work, 'os'), join(root, 'os'), OS_RPMS),
    buildTestRpms(join(work, 'extra'), join(root, 'extra'), EXTRA_RPMS),
  ]);
  await Promise.all([createRepo(join(root, 'os')), createRepo(join(root, 'extra'))]);
  const nginx = await startNginx(`root ${root};`);
  return { root, host: nginx.host, url: (repo) => `http://${nginx.host}/${repo}` };
}

/**
 * dnf's options for a fresh installroot that reads only the repositories given after them
 * (`--repofrompath`): no system configuration, no network, no GPG.
 */
export function isolatedDnfArgs(installroot: string): string[] {
  return [
    '-q',
    '-y',
    `--installroot=${installroot}`,
    '--releasever=7',
    '--nogpgcheck',
    '--setopt=reposdir=/nonexistent',
    `--setopt=cachedir=${join(installroot, 'cache')}`,
  ];
}

/** What dnf downloads for `packages` with their whole closure (`download --resolve --alldeps`). */
export async function dnfClosure(
  repos: Record<string, { url: string; priority: number }>,
  packages: string[],
): Promise<string[]> {
  const dnf = requireTool('dnf');
  const installroot = tempDir('mk8s-dnf-');
  const dest = join(installroot, 'download');
  mkdirSync(dest);
  await run(dnf, [
    ...isolatedDnfArgs(installroot),
    '--setopt=install_weak_deps=False',
    ...Object.entries(repos).flatMap(([name, repo]) => [
      `--repofrompath=${name},${repo.url}`,
      `--setopt=${name}.priority=${repo.priority}`,
    ]),
    'download',
    '--resolve',
    '--alldeps',
    `--destdir=${dest}`,
    ...packages,
  ]).catch((error: { stderr?: string }) => {
    if (error.stderr?.includes('No such command: download'))
      throw new Error('dnf download is missing; install it with: apt-get install -y dnf-plugins-core');
    throw error;
  });
  return readdirSync(dest)
    .filter((name) => name.endsWith('.rpm'))
    .sort();
}
