// A small MetalK8s-like project in a temp dir, and the MetalK8s task families over it.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../tasks/config.ts';
import { metalk8sTasks as tasksOf } from '../tasks/index.ts';
import { PROJECT_ROOT, requireTool, runEngine, tempDir } from './helpers.ts';
import { testKeyring, type TestKeyring } from './gpg.ts';
import { runtimeTarball } from './node-runtime.ts';
import { declaredRuntime } from './runtime-cache.ts';
import { startNginx } from './servers-for-tests.ts';
import type { LocalServer } from './servers.ts';

/**
 * A small project: VERSION, the committed yamllint config and runtime declaration, and the given
 * files. The runtime's tarball is put in its store (BUILD_ROOT/cache, as an offline import would),
 * so that no test reaches the npm registry; `runtime: 'fetch'` leaves it to be fetched. Its .env
 * says METALK8S_SOURCE=none before the given .env's lines, which may name another source.
 */
export function project(files: Record<string, string>, options: { runtime?: 'stored' | 'fetch' } = {}): string {
  const root = tempDir();
  copyFileSync(join(PROJECT_ROOT, 'VERSION'), join(root, 'VERSION'));
  copyFileSync(join(PROJECT_ROOT, '.yamllint.yaml'), join(root, '.yamllint.yaml'));
  mkdirSync(join(root, 'runtime'));
  copyFileSync(join(PROJECT_ROOT, 'runtime/node.yaml'), join(root, 'runtime/node.yaml'));
  if (options.runtime !== 'fetch') {
    const blobs = join(root, '_build/cache/blobs/sha256');
    mkdirSync(blobs, { recursive: true });
    try {
      linkSync(runtimeTarball(), join(blobs, declaredRuntime().sha256));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      copyFileSync(runtimeTarball(), join(blobs, declaredRuntime().sha256));
    }
  }
  // No product source unless the test gives one: a test project never reaches GitHub.
  const dotenv = `METALK8S_SOURCE=none\n${files['.env'] ?? ''}`;
  for (const [path, text] of Object.entries({
    'images/images.yaml': 'remote: []\nlocal: []\n',
    'packages-rpm/packages.yaml': 'repositories: []\npackages: []\n',
    ...files,
    '.env': dotenv,
  })) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

export function metalk8sTasks(root: string, env: NodeJS.ProcessEnv = {}) {
  return tasksOf(loadConfig(root, env));
}

/**
 * The iso task run on a fresh project, signed with a fresh test key (GPG_KEY, and
 * SOURCE_DATE_EPOCH=1600000000, plus `env`): SHA256SUM.asc and the provenance envelope are beside
 * the ISO in `root`/_build. The key's agent is stopped before returning.
 */
export async function signedIsoBuild(
  env: Record<string, string> = {},
): Promise<{ root: string; keyring: TestKeyring; failures: (string | undefined)[] }> {
  const keyring = await testKeyring('release@example.invalid');
  const root = project({ 'salt-tree/top.sls': 'base: {}\n' });
  const previous = process.env.GNUPGHOME;
  process.env.GNUPGHOME = keyring.home;
  try {
    const report = await runEngine(
      root,
      metalk8sTasks(root, { GPG_KEY: 'release@example.invalid', SOURCE_DATE_EPOCH: '1600000000', ...env }),
      ['iso'],
    );
    return { root, keyring, failures: report.finished.filter((r) => r.result === 'fail').map((r) => r.error) };
  } finally {
    if (previous === undefined) delete process.env.GNUPGHOME;
    else process.env.GNUPGHOME = previous;
    await stopAgent(keyring);
  }
}

/** Stops the gpg-agent that a keyring's use started, so that no process outlives the test. */
export async function stopAgent(keyring: TestKeyring): Promise<void> {
  await promisify(execFile)(requireTool('gpgconf'), ['--kill', 'gpg-agent'], {
    env: { ...process.env, GNUPGHOME: keyring.home },
  }).catch(() => undefined);
}

/**
 * The packages of the end-to-end projects: `app` and its closure fetched from the `os` and `extra`
 * repositories of test/yum-repos.ts, and `hello-tool` built from a spec with one local source.
 */
export const E2E_PACKAGES: Record<string, string> = {
  'packages-rpm/packages.yaml': [
    'repositories:',
    '  - {name: os, baseurl: "https://os.example.invalid/7/x86_64", priority: 10}',
    '  - {name: extra, baseurl: "https://extra.example.invalid/7/x86_64", priority: 20}',
    'packages: [{name: app, version: "1.0"}, {name: webui}]',
    'build:',
    '  - {name: hello-tool, version: "1.0", release: "1", spec: hello-tool.spec, sources: [{file: hello.txt}]}',
    '',
  ].join('\n'),
  'packages-rpm/hello-tool.spec': [
    'Name: hello-tool',
    'Version: 1.0',
    'Release: 1%{?dist}',
    'Summary: hello',
    'License: MIT',
    'BuildArch: noarch',
    'Source0: hello.txt',
    '',
    '%description',
    'hello',
    '',
    '%install',
    'install -D -m 644 %{SOURCE0} %{buildroot}/usr/share/hello-tool/hello.txt',
    '',
    '%files',
    '/usr/share/hello-tool',
    '',
  ].join('\n'),
  'packages-rpm/hello.txt': 'hello\n',
};

/** The ISO's examples/, as the real project has them. */
export function copyExamples(root: string): void {
  mkdirSync(join(root, 'examples'));
  for (const example of readdirSync(join(PROJECT_ROOT, 'examples')))
    copyFileSync(join(PROJECT_ROOT, 'examples', example), join(root, 'examples', example));
}

/** An npm registry mirror (nginx on 127.0.0.1) serving the agent's real runtime tarball: NPM_REGISTRY. */
export async function startRuntimeMirror(): Promise<LocalServer> {
  const runtime = declaredRuntime();
  const npm = tempDir('mk8s-npm-');
  mkdirSync(join(npm, runtime.name, '-'), { recursive: true });
  copyFileSync(runtimeTarball(), join(npm, runtime.name, '-', `${runtime.name}-${runtime.version}.tgz`));
  chmodSync(npm, 0o755);
  return startNginx(`root ${npm};`);
}
