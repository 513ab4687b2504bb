// A small MetalK8s-like project in a temp dir, and the MetalK8s task families over it.
import { execFile } from 'node:child_process';
import { copyFileSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../tasks/config.ts';
import { metalk8sTasks as tasksOf } from '../tasks/index.ts';
import { PROJECT_ROOT, requireTool, runEngine, tempDir } from './helpers.ts';
import { testKeyring, type TestKeyring } from './gpg.ts';
import { runtimeTarball } from './node-runtime.ts';
import { declaredRuntime } from './runtime-cache.ts';

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
