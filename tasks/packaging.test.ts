// The packaging tasks through the engine, against real repositories of real RPMs served by nginx
// through YUM_MIRROR_* (as a release engineer's mirror), a spec built with rpmbuild, and dnf
// reading the ISO repositories we write, from files, with no network.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool, runEngine, tempDir, type RecordingReporter } from '../test/helpers.ts';
import { testKeyring } from '../test/gpg.ts';
import { metalk8sTasks, project } from '../test/project.ts';
import { freePort } from '../test/servers.ts';
import { APP_CLOSURE, isolatedDnfArgs, serveTestRepos, type ServedRepos } from '../test/yum-repos.ts';
import { upstreamRepositoryKeys } from '../test/upstream-layout.ts';
import { loadPackageDeclarations } from '../buildchain/rpm/declarations.ts';
import { repositoryKeyFile } from '../buildchain/rpm/lock.ts';
import { PROJECT_ROOT } from '../test/helpers.ts';

const run = promisify(execFile);

const SPEC = [
  'Name: hello-tool',
  'Version: 1.0',
  'Release: 1%{?dist}',
  'Summary: hello',
  'License: MIT',
  'BuildArch: noarch',
  'Source0: hello.txt',
  'Source1: notice.txt',
  '',
  '%description',
  'hello',
  '',
  '%install',
  'install -D -m 644 %{SOURCE0} %{buildroot}/usr/share/hello-tool/hello.txt',
  'install -D -m 644 %{SOURCE1} %{buildroot}/usr/share/hello-tool/notice.txt',
  '',
  '%files',
  '/usr/share/hello-tool',
  '',
].join('\n');

/** A project declaring `app` from os + extra (by declared URLs nobody can reach) and hello-tool. */
function packagingProject(
  served: ServedRepos,
  extra = '{name: extra, baseurl: "https://extra.example.invalid/7/x86_64", priority: 20}',
): string {
  mkdirSync(join(served.root, 'sources'), { recursive: true });
  writeFileSync(join(served.root, 'sources', 'notice.txt'), 'fetched and checked\n');
  writeFileSync(join(served.root, 'os', 'RPM-GPG-KEY-test'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\ntest\n');
  const sha256 = createHash('sha256').update('fetched and checked\n').digest('hex');
  return project({
    'packages-rpm/packages.yaml': [
      'repositories:',
      // The key is relative to the base URL: it comes from the mirror too.
      '  - {name: os, baseurl: "https://os.example.invalid/7/x86_64", priority: 10, gpgkeys: [RPM-GPG-KEY-test]}',
      `  - ${extra}`,
      'packages:',
      '  - {name: app}',
      'exclude: [base-os-lib]',
      'build:',
      '  - name: hello-tool',
      '    version: "1.0"',
      '    release: "1"',
      '    spec: hello-tool.spec',
      '    sources:',
      '      - {file: hello.txt}',
      // Fetched by name from SOURCES_MIRROR: nobody can reach the declared host.
      `      - {url: "https://sources.example.invalid/v1/notice.txt", sha256: ${sha256}}`,
      '',
    ].join('\n'),
    'packages-rpm/hello-tool.spec': SPEC,
    'packages-rpm/hello.txt': 'hello\n',
  });
}

const mirrors = (served: ServedRepos) => ({
  YUM_MIRROR_OS: served.url('os'),
  YUM_MIRROR_EXTRA: served.url('extra'),
  SOURCES_MIRROR: served.url('sources'),
  SOURCE_DATE_EPOCH: '1600000000',
});

function failures(report: RecordingReporter): string[] {
  return report.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`);
}

describe('packaging tasks', () => {
  it(
    'fetches the closure, builds the spec, writes repositories dnf reads offline; then is a no-op',
    { timeout: 180_000 },
    async () => {
      const served = await serveTestRepos();
      const root = packagingProject(served);
      const first = await runEngine(root, metalk8sTasks(root, mirrors(served)), ['packaging']);
      expect(failures(first)).toEqual([]);
      const repos = join(root, '_build/root/packages/redhat');
      const rpms = (repo: string) =>
        readdirSync(join(repos, repo))
          .filter((name) => name.endsWith('.rpm'))
          .sort();
      const fetched = APP_CLOSURE.filter((name) => name !== 'base-os-lib-1.0-1.x86_64.rpm');
      expect([...rpms('metalk8s-os-el7'), ...rpms('metalk8s-extra-el7')].sort()).toEqual(fetched);
      expect(rpms('metalk8s-scality-el7')).toEqual(['hello-tool-1.0-1.el7.noarch.rpm']);
      expect(readFileSync(join(repos, 'metalk8s-os-el7', 'RPM-GPG-KEY-metalk8s-os-7_1'), 'utf8')).toContain(
        'PGP PUBLIC KEY',
      );
      const lock = JSON.parse(readFileSync(join(root, '_build/packages.lock.json'), 'utf8')) as {
        packages: { name: string; repo: string; digest: string }[];
      };
      expect(lock.packages.map((pkg) => `${pkg.repo}/${pkg.name}`)).toEqual([
        'os/app',
        'os/config-data',
        'os/data',
        'os/helper',
        'os/libfoo',
        'extra/tinyhttpd',
        'extra/webui',
      ]);
      // Placed by hard link from the store: one inode.
      const libfoo = lock.packages.find((pkg) => pkg.name === 'libfoo')!;
      expect(statSync(join(repos, 'metalk8s-os-el7', 'libfoo-2.3-1.x86_64.rpm')).ino).toBe(
        statSync(join(root, '_build/cache/blobs/sha256', libfoo.digest.slice(7))).ino,
      );

      // dnf reads the ISO repositories from files, with no network: the built package, and a
      // closure across two of them.
      const dnf = requireTool('dnf');
      const installroot = tempDir('mk8s-dnf-');
      const dnfArgs = [
        ...isolatedDnfArgs(installroot),
        ...['os', 'extra', 'scality'].map(
          (repo) => `--repofrompath=${repo},file://${join(repos, `metalk8s-${repo}-el7`)}`,
        ),
      ];
      const listed = await run(dnf, [...dnfArgs, 'repoquery', '--qf', '%{name}-%{version}-%{release}.%{arch}']);
      expect(listed.stdout.trim().split('\n').sort()).toEqual(
        [...fetched, 'hello-tool-1.0-1.el7.noarch.rpm'].map((name) => name.replace(/\.rpm$/, '')).sort(),
      );
      mkdirSync(join(installroot, 'download'));
      await run(dnf, [
        ...dnfArgs,
        'download',
        '--resolve',
        '--alldeps',
        `--destdir=${join(installroot, 'download')}`,
        'webui',
        'hello-tool',
      ]);
      expect(readdirSync(join(installroot, 'download')).sort()).toEqual([
        'hello-tool-1.0-1.el7.noarch.rpm',
        'tinyhttpd-1.0-1.noarch.rpm',
        'webui-2.0-1.noarch.rpm',
      ]);

      // Nothing changed: nothing runs, no repository is asked.
      const second = await runEngine(root, metalk8sTasks(root, mirrors(served)), ['packaging']);
      expect(second.executed).toEqual([]);

      // With SOURCE_DATE_EPOCH, the repository metadata is the same bytes when written again.
      const repomd = readFileSync(join(repos, 'metalk8s-os-el7/repodata/repomd.xml'));
      rmSync(join(root, '_build/root/packages'), { recursive: true });
      const third = await runEngine(root, metalk8sTasks(root, mirrors(served)), ['packaging']);
      expect(third.executed.filter((name) => !name.startsWith('_build_rpm_repositories:'))).toEqual([
        '_package_mkdir_rpm_iso_root',
      ]);
      expect(readFileSync(join(repos, 'metalk8s-os-el7/repodata/repomd.xml')).equals(repomd)).toBe(true);

      // A committed lock builds with no network at all; a stale one is refused.
      copyFileSync(join(root, '_build/packages.lock.json'), join(root, 'packages-rpm/packages.lock.json'));
      rmSync(join(root, '_build/root'), { recursive: true });
      rmSync(join(root, '_build/packages.lock.json'));
      const dead = `http://127.0.0.1:${await freePort()}`;
      const offline = await runEngine(
        root,
        metalk8sTasks(root, {
          YUM_MIRROR_OS: dead,
          YUM_MIRROR_EXTRA: dead,
          SOURCES_MIRROR: dead,
          SOURCE_DATE_EPOCH: '1600000000',
        }),
        ['packaging'],
      );
      expect(failures(offline)).toEqual([]);
      expect(readFileSync(join(repos, 'metalk8s-os-el7/repodata/repomd.xml')).equals(repomd)).toBe(true);
      writeFileSync(
        join(root, 'packages-rpm/packages.yaml'),
        readFileSync(join(root, 'packages-rpm/packages.yaml'), 'utf8').replace('exclude: [base-os-lib]', 'exclude: []'),
      );
      const stale = await runEngine(root, metalk8sTasks(root, mirrors(served)), ['packaging']);
      expect(failures(stale).join('\n')).toContain(
        `${join(root, 'packages-rpm/packages.lock.json')} was resolved from other declarations`,
      );
    },
  );

  it('resolves through repositories the OS provides without shipping their packages', { timeout: 60_000 }, async () => {
    const served = await serveTestRepos();
    const root = packagingProject(
      served,
      '{name: extra, baseurl: "https://extra.example.invalid/7/x86_64", iso: false}',
    );
    const report = await runEngine(root, metalk8sTasks(root, mirrors(served)), ['packaging']);
    expect(failures(report)).toEqual([]);
    expect(readdirSync(join(root, '_build/root/packages/redhat')).sort()).toEqual([
      'metalk8s-os-el7',
      'metalk8s-scality-el7',
    ]);
    const lock = JSON.parse(readFileSync(join(root, '_build/packages.lock.json'), 'utf8')) as {
      packages: { repo: string }[];
    };
    expect(new Set(lock.packages.map((pkg) => pkg.repo))).toEqual(new Set(['os']));
  });

  it(
    "signs built packages and every repository's metadata with GPG_KEY, reproducibly",
    { timeout: 120_000 },
    async () => {
      const served = await serveTestRepos();
      const root = packagingProject(
        served,
        '{name: extra, baseurl: "https://extra.example.invalid/7/x86_64", iso: false}',
      );
      const gpg = requireTool('gpg');
      const { home, publicKey: key } = await testKeyring('test@example.invalid');
      const previous = process.env.GNUPGHOME;
      process.env.GNUPGHOME = home;
      try {
        const env = { ...mirrors(served), GPG_KEY: 'test@example.invalid' };
        expect(failures(await runEngine(root, metalk8sTasks(root, env), ['packaging']))).toEqual([]);
        const repos = join(root, '_build/root/packages/redhat');
        for (const repo of ['metalk8s-os-el7', 'metalk8s-scality-el7']) {
          await run(gpg, [
            '--batch',
            '--verify',
            join(repos, repo, 'repodata/repomd.xml.asc'),
            join(repos, repo, 'repodata/repomd.xml'),
          ]);
        }
        // rpm checks the package signature against the public key, imported in a database of its own.
        const dbpath = tempDir('mk8s-rpmdb-');
        await run(requireTool('rpm'), ['--dbpath', dbpath, '--import', key]);
        const checked = await run(requireTool('rpm'), [
          '--dbpath',
          dbpath,
          '-K',
          join(repos, 'metalk8s-scality-el7', 'hello-tool-1.0-1.el7.noarch.rpm'),
        ]);
        expect(checked.stdout).toMatch(/digests signatures OK/);
        // Signed at SOURCE_DATE_EPOCH with a deterministic (EdDSA) key: the same bytes again.
        const signature = readFileSync(join(repos, 'metalk8s-os-el7', 'repodata/repomd.xml.asc'));
        rmSync(join(root, '_build/root/packages'), { recursive: true });
        expect(failures(await runEngine(root, metalk8sTasks(root, env), ['packaging']))).toEqual([]);
        expect(readFileSync(join(repos, 'metalk8s-os-el7', 'repodata/repomd.xml.asc')).equals(signature)).toBe(true);
      } finally {
        await run(requireTool('gpgconf'), ['--kill', 'gpg-agent']).catch(() => undefined);
        if (previous === undefined) delete process.env.GNUPGHOME;
        else process.env.GNUPGHOME = previous;
      }
    },
  );

  it(
    'stops before any work naming unreachable repositories and sources and their .env keys',
    { timeout: 60_000 },
    async () => {
      const served = await serveTestRepos();
      const root = packagingProject(served);
      const dead = `http://127.0.0.1:${await freePort()}`;
      const started = Date.now();
      const report = await runEngine(
        root,
        metalk8sTasks(root, { YUM_MIRROR_OS: dead, YUM_MIRROR_EXTRA: `${dead}/extra`, SOURCES_MIRROR: dead }),
        ['packaging'],
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      const error = failures(report).join('\n');
      expect(error).toContain('cannot reach 2 yum repositories');
      expect(error).toContain(`os (${dead}/repodata/repomd.xml): ECONNREFUSED`);
      const settings = report.finished.flatMap((r) => r.settings ?? []);
      expect(settings).toContain('YUM_MIRROR_EXTRA=<mirror base URL>');
      expect(error).toContain(`cannot fetch 1 spec source:\n  notice.txt (${dead}/notice.txt): ECONNREFUSED`);
      expect(settings).toContain('SOURCES_MIRROR=<base URL>');
      expect(report.executed).not.toContain('_resolve_rpm_packages');
    },
  );

  it(
    'rejects a package whose bytes do not match the checksum, keeping nothing of it',
    { timeout: 60_000 },
    async () => {
      const served = await serveTestRepos();
      const root = packagingProject(served);
      const file = join(served.root, 'os', 'libfoo-2.3-1.x86_64.rpm');
      const bytes = readFileSync(file);
      bytes[bytes.length - 10]! ^= 0xff; // same size, other content
      writeFileSync(file, bytes);
      const report = await runEngine(root, metalk8sTasks(root, mirrors(served)), ['packaging']);
      const error = failures(report).join('\n');
      expect(error).toContain(`libfoo-2.3-1.x86_64 from ${served.url('os')}/libfoo-2.3-1.x86_64.rpm`);
      expect(error).toContain('digest mismatch');
      const lock = JSON.parse(readFileSync(join(root, '_build/packages.lock.json'), 'utf8')) as {
        packages: { name: string; digest: string }[];
      };
      const digest = lock.packages.find((pkg) => pkg.name === 'libfoo')!.digest;
      expect(() => statSync(join(root, '_build/cache/blobs/sha256', digest.slice(7)))).toThrow();
    },
  );
});

describe("MetalK8s 2.4.1's repositories (packages-rpm/packages.yaml)", () => {
  it("ship the keys upstream's ISO ships, under its names: saltstack's two included", () => {
    const declared = loadPackageDeclarations(join(PROJECT_ROOT, 'packages-rpm/packages.yaml'));
    const keys = Object.fromEntries(
      declared.repositories
        .filter((repo) => repo.iso && repo.gpgkeys.length > 0)
        .map((repo) => [repo.name, repo.gpgkeys.map((_, index) => repositoryKeyFile(repo.name, index))]),
    );
    expect(keys).toEqual(upstreamRepositoryKeys());
  });
});
