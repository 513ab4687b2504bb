// A small MetalK8s-like project in a temp dir, and the MetalK8s task families over it.
import { copyFileSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../tasks/config.ts';
import { metalk8sTasks as tasksOf } from '../tasks/index.ts';
import { PROJECT_ROOT, tempDir } from './helpers.ts';
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
