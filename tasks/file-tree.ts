// Trees of project files copied into the ISO tree, one task per file (salt_tree, _iso_add_tree).
// Files ending in `.in` are templates: @@VERSION and friends are filled in, the suffix dropped.
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildConfig } from './config.ts';
import type { TaskSpec } from '../buildchain/engine/task.ts';
import { copyFileAtomic } from '../buildchain/fs/atomic.ts';
import { listFiles } from '../buildchain/fs/walk.ts';
import { renderTemplateFile } from '../buildchain/template.ts';

export function templateContext(config: BuildConfig): Record<string, string> {
  return {
    VERSION: config.version.full,
    SHORT_VERSION: config.version.short,
    PROJECT_NAME: config.projectName,
    PROJECT_NAME_LOWER: config.projectName.toLowerCase(),
  };
}

export interface FileTree {
  /** Task basename: each file's task is `<basename>:<path in destination>`. */
  basename: string;
  source: string;
  destination: string;
  /** Put before each file's path in its task name (`examples` for `_iso_add_tree:examples/...`). */
  namePrefix?: string;
  task_dep: string[];
  /** More template values, each the text of a file (upstream's storage-operator manifests). */
  fileValues?: Readonly<Record<string, string>>;
}

/** One task per file of the tree (none when the source folder does not exist). */
export function fileTreeTasks(config: BuildConfig, tree: FileTree): TaskSpec[] {
  if (!existsSync(tree.source)) return [];
  return listFiles(tree.source).map((file) => {
    const templated = file.endsWith('.in');
    const name = templated ? file.slice(0, -'.in'.length) : file;
    const source = join(tree.source, file);
    const target = join(tree.destination, name);
    const context = templated ? templateContext(config) : undefined;
    const valueFiles = templated ? Object.values(tree.fileValues ?? {}) : [];
    return {
      name: `${tree.basename}:${tree.namePrefix ? `${tree.namePrefix}/` : ''}${name}`,
      file_dep: [source, ...valueFiles],
      targets: [target],
      task_dep: tree.task_dep,
      // A template also depends on the values it is rendered with.
      ...(context
        ? { uptodate: [context], actions: [async () => renderTemplateFile(source, target, { ...context, ...(await readValues(tree.fileValues ?? {})) })] }
        : { actions: [() => copyFileAtomic(source, target)] }),
      clean: true,
    };
  });
}

async function readValues(files: Readonly<Record<string, string>>): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(Object.entries(files).map(async ([name, file]) => [name, await readFile(file, 'utf8')] as const)));
}

/** A `clean` action removing a whole directory (or file): the engine's own clean keeps non-empty directories. */
export function removeTree(path: string) {
  return async ({ dryRun, log }: { dryRun: boolean; log: (message: string) => void }) => {
    log(`${dryRun ? 'would remove' : 'removing'} ${path}`);
    if (!dryRun) await rm(path, { recursive: true, force: true });
  };
}
