// The MetalK8s build: every task family, as upstream's dodo.py gathers buildchain/*.py, and what
// the engine needs to know of the project (./build.ts, or a task file re-exporting `project`).
import type { Project } from '../buildchain/engine/cli.ts';
import { chainIdentity } from '../buildchain/cache/identity.ts';
import { projectRoot } from '../buildchain/paths.ts';
import { loadConfig, type BuildConfig } from './config.ts';
import { createContext, type BuildContext } from './context.ts';
import { loadBuildSpec } from '../buildchain/oci/build-spec.ts';
import { loadRuntimeDeclaration } from '../buildchain/sources/npm-runtime.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { buildRootTasks } from './build-root.ts';
import { docTasks } from './docs.ts';
import { imageTasks } from './images.ts';
import { isoTasks } from './iso.ts';
import { lintTasks } from './lint.ts';
import { offlineTasks } from './offline.ts';
import { packagingTasks } from './packaging.ts';
import { productTasks } from './product.ts';
import { publishTasks } from './publish.ts';
import { saltTreeTasks } from './salt-tree.ts';
import { sbomTasks } from './sbom.ts';
import { toolCheckTasks } from './tools.ts';
import { vagrantTasks } from './vagrant.ts';

/** The project rooted at `root`: its settings (.env, environment), tasks, build root and default. */
export function project(root: string, env: NodeJS.ProcessEnv = process.env): Project {
  const config = loadConfig(root, env);
  const context = createContext(config);
  // Read now rather than when a task first needs them: `list` and `info` refuse a broken
  // declarations file as a build does. A build reads them all anyway, from the same context.
  readDeclarations(context);
  const results = context.results;
  let version: string | undefined;
  return {
    definitions: familiesOf(context),
    buildRoot: config.buildRoot,
    defaultTasks: ['iso'],
    warnings: config.warnings,
    // The ISO tree's layers and packages are links to the store: their digests are known.
    knownDigest: (stats) => context.store.knownDigest(stats),
    ...(results
      ? {
          cache: {
            results,
            // Asked only by a run that is not a proven no-op.
            get version() {
              version ??= `${config.version.full} ${chainIdentity(projectRoot())}`;
              return version;
            },
          },
        }
      : {}),
  };
}

/** Every family, each handed the one build context (store, puller, package workspace, paths). */
export function metalk8sTasks(config: BuildConfig): TaskDefinition[] {
  return familiesOf(createContext(config));
}

/**
 * The project's declarations files, each checked against its schema: images, their daemonless
 * definitions (those of the product source are read once it is unpacked), packages, the runtime.
 */
function readDeclarations(context: BuildContext): void {
  const { local } = context.images();
  for (const image of local) if (image.kind === 'spec' && !image.fromProduct) loadBuildSpec(image.definition);
  void context.workspace.declarations;
  loadRuntimeDeclaration(context.config.runtimeFile);
}

function familiesOf(context: BuildContext): TaskDefinition[] {
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
    ...publishTasks(context),
    ...lintTasks(context),
    ...vagrantTasks(context),
  ];
}
