// The MetalK8s build: every task family, as upstream's dodo.py gathers buildchain/*.py, and what
// the engine needs to know of the project (./build.ts, or a task file re-exporting `project`).
import type { Project } from '../buildchain/engine/cli.ts';
import { loadConfig, type BuildConfig } from './config.ts';
import { createContext } from './context.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { buildRootTasks } from './build-root.ts';
import { docTasks } from './docs.ts';
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

/** The project rooted at `root`: its settings (.env, environment), tasks, build root and default. */
export function project(root: string, env: NodeJS.ProcessEnv = process.env): Project {
  const config = loadConfig(root, env);
  return {
    definitions: metalk8sTasks(config),
    buildRoot: config.buildRoot,
    defaultTasks: ['iso'],
    warnings: config.warnings,
  };
}

/** Every family, each handed the one build context (store, puller, package workspace, paths). */
export function metalk8sTasks(config: BuildConfig): TaskDefinition[] {
  const context = createContext(config);
  return [
    ...toolCheckTasks(context),
    ...buildRootTasks(context),
    ...productTasks(context),
    ...saltTreeTasks(context),
    ...imageTasks(context),
    ...packagingTasks(context),
    ...docTasks(context),
    ...offlineTasks(context),
    ...sbomTasks(context),
    ...isoTasks(context),
    ...lintTasks(context),
    ...vagrantTasks(context),
  ];
}
