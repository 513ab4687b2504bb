// Our closure against dnf's on real repositories served by nginx; metadata read as createrepo_c
// writes it (gz, xz, zstd); errors name the package and the requirement.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool, tempDir } from '../../test/helpers.ts';
import { APP_CLOSURE, dnfClosure, serveTestRepos, type ServedRepos } from '../../test/yum-repos.ts';
import { BlobStore } from '../store/blob-store.ts';
import { openMetadata, parsePrimary } from './metadata.ts';
import { YumRepository } from './repository.ts';
import { ownersAcross, resolveClosure, type PackageRequest } from './resolve.ts';

const run = promisify(execFile);
const signal = new AbortController().signal;

async function ours(served: ServedRepos, requests: PackageRequest[], exclude: string[] = []) {
  const store = new BlobStore(tempDir('mk8s-store-'));
  const repos = [
    { name: 'os', baseurl: served.url('os'), priority: 10 },
    { name: 'extra', baseurl: served.url('extra'), priority: 20 },
  ].map((source) => new YumRepository(source, new Map(), store));
  const filelistsRead: string[] = [];
  const closure = await resolveClosure({
    packages: (await Promise.all(repos.map((repo) => repo.packages(signal)))).flat(),
    priorities: new Map([
      ['os', 10],
      ['extra', 20],
    ]),
    requests,
    exclude: new Set(exclude),
    fileOwners: async (paths) => {
      filelistsRead.push(...paths);
      return ownersAcross(repos, (repo) => repo.fileOwners(paths, signal));
    },
  });
  return { closure, names: closure.map((pkg) => basename(pkg.location)).sort(), filelistsRead };
}

describe('yum dependency closure', () => {
  it('picks what dnf download --resolve --alldeps picks', { timeout: 120_000 }, async () => {
    const served = await serveTestRepos();
    const dnf = await dnfClosure(
      { os: { url: served.url('os'), priority: 10 }, extra: { url: served.url('extra'), priority: 20 } },
      ['app'],
    );
    expect(dnf).toEqual(APP_CLOSURE);
    const { names, filelistsRead } = await ours(served, [{ name: 'app', where: 'test' }]);
    expect(names).toEqual(dnf);
    // Only the file primary.xml does not list sent us to filelists.xml.
    expect(filelistsRead).toEqual(['/opt/helper/lib/data.txt']);

    // Names the target OS has are not followed; a pinned version is honoured.
    const pinned = await ours(
      served,
      [
        { name: 'app', where: 'test' },
        { name: 'libfoo', version: '1.5', where: 'test' },
      ],
      ['base-os-lib'],
    );
    expect(pinned.names).toEqual(
      [...APP_CLOSURE.filter((name) => name !== 'base-os-lib-1.0-1.x86_64.rpm'), 'libfoo-1.5-1.x86_64.rpm'].sort(),
    );
  });

  it('reads xz, bzip2 and zstd metadata, and names what cannot be satisfied', { timeout: 120_000 }, async () => {
    const served = await serveTestRepos();
    const createrepo = requireTool('createrepo_c');
    await run(createrepo, ['--no-database', '--quiet', '--general-compress-type', 'xz', join(served.root, 'os')]);
    await run(createrepo, ['--no-database', '--quiet', '--general-compress-type', 'bz2', join(served.root, 'extra')]);
    expect((await ours(served, [{ name: 'app', where: 'test' }])).names).toEqual(APP_CLOSURE);
    // Debian's createrepo_c cannot write zstd (Fedora's writes it by default): recompress by hand.
    const primary = readdirSync(join(served.root, 'os', 'repodata')).find((name) => name.endsWith('primary.xml.xz'))!;
    const zst = join(tempDir(), 'primary.xml.zst');
    await run('sh', [
      '-c',
      `xz -dc ${join(served.root, 'os', 'repodata', primary)} | ${requireTool('zstd')} -q -o ${zst}`,
    ]);
    expect((await parsePrimary(openMetadata(zst), 'os', zst)).map((pkg) => pkg.name)).toContain('libfoo');

    await expect(
      ours(served, [{ name: 'app', version: '9.9', where: 'packages.yaml: packages[0] (app)' }]),
    ).rejects.toThrow(
      'packages.yaml: packages[0] (app): no package app 9.9 in the repositories (versions there: 1.0-1)',
    );
    // Without extra, nothing provides what webui needs... and webui itself is missing.
    const store = new BlobStore(tempDir('mk8s-store-'));
    const os = new YumRepository({ name: 'os', baseurl: served.url('os'), priority: 10 }, new Map(), store);
    await expect(
      resolveClosure({
        packages: await os.packages(signal),
        priorities: new Map(),
        requests: [{ name: 'app', where: 'test' }],
      }),
    ).rejects.toThrow('app-1.0-1.x86_64 (repository os) requires webui, which no package of the repositories provides');
  });
});
