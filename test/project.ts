// A small MetalK8s-like project in a temp dir, and the MetalK8s task families over it.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../buildchain/config.ts';
import { tasks } from '../tasks/index.ts';
import { PROJECT_ROOT, tempDir } from './helpers.ts';

/** A small project: VERSION, the committed yamllint config, and the given files. */
export function project(files: Record<string, string>): string {
  const root = tempDir();
  copyFileSync(join(PROJECT_ROOT, 'VERSION'), join(root, 'VERSION'));
  copyFileSync(join(PROJECT_ROOT, '.yamllint.yaml'), join(root, '.yamllint.yaml'));
  for (const [path, text] of Object.entries({ 'images/images.yaml': 'remote: []\nlocal: []\n', 'packages-rpm/packages.yaml': 'repositories: []\npackages: []\n', ...files })) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

export function metalk8sTasks(root: string, env: NodeJS.ProcessEnv = {}) {
  return tasks(loadConfig(root, env));
}

