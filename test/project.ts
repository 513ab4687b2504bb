// A small MetalK8s-like project in a temp dir, and the MetalK8s task families over it.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../buildchain/config.ts';
import { buildRootTasks } from '../tasks/build-root.ts';
import { imageTasks } from '../tasks/images.ts';
import { isoTasks } from '../tasks/iso.ts';
import { lintTasks } from '../tasks/lint.ts';
import { offlineTasks } from '../tasks/offline.ts';
import { packagingTasks } from '../tasks/packaging.ts';
import { saltTreeTasks } from '../tasks/salt-tree.ts';
import { sbomTasks } from '../tasks/sbom.ts';
import { toolCheckTasks } from '../tasks/tools.ts';
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
  const config = loadConfig(root, env);
  return [...toolCheckTasks(config), ...buildRootTasks(config), ...saltTreeTasks(config), ...imageTasks(config), ...packagingTasks(config), ...offlineTasks(config), ...sbomTasks(config), ...isoTasks(config), ...lintTasks(config)];
}

