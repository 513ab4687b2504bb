// The MetalK8s build: every task family, as upstream's dodo.py gathers buildchain/*.py.
import type { BuildConfig } from '../buildchain/config.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { buildRootTasks } from './build-root.ts';
import { imageTasks } from './images.ts';
import { isoTasks } from './iso.ts';
import { lintTasks } from './lint.ts';
import { offlineTasks } from './offline.ts';
import { packagingTasks } from './packaging.ts';
import { productTasks } from './product.ts';
import { saltTreeTasks } from './salt-tree.ts';
import { sbomTasks } from './sbom.ts';
import { toolCheckTasks } from './tools.ts';
import { vagrantTasks } from './vagrant.ts';

export const DEFAULT_TASKS = ['iso'];

export function tasks(config: BuildConfig): TaskDefinition[] {
  return [...toolCheckTasks(config), ...buildRootTasks(config), ...productTasks(config), ...saltTreeTasks(config), ...imageTasks(config), ...packagingTasks(config), ...offlineTasks(config), ...sbomTasks(config), ...isoTasks(config), ...lintTasks(config), ...vagrantTasks(config)];
}
