// The MetalK8s build: every task family, as upstream's dodo.py gathers buildchain/*.py.
import type { BuildConfig } from '../buildchain/config.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { buildRootTasks } from './build-root.ts';
import { lintTasks } from './lint.ts';
import { saltTreeTasks } from './salt-tree.ts';
import { toolCheckTasks } from './tools.ts';

export const DEFAULT_TASKS = ['iso'];

export const MISSING_DEFAULT_HINT =
  'the ISO writer (tasks/iso.ts), the images (tasks/images.ts) and the packaging (tasks/packaging.ts) ' +
  'are not part of the build yet; salt_tree and lint work today';

export function tasks(config: BuildConfig): TaskDefinition[] {
  return [...toolCheckTasks(config), ...buildRootTasks(config), ...saltTreeTasks(config), ...lintTasks(config)];
}
