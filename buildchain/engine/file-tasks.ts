// Trees of files copied into a destination, one task per file, and a clean action removing a
// tree: what a project's file-copying families are made of (salt_tree, _iso_add_tree). Files
// ending in `.in` are `@@NAME` templates, rendered with the values given, the suffix dropped.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { copyFileAtomic } from '../fs/atomic.ts';
import { listFiles } from '../fs/walk.ts';
import { renderTemplateFile, usedValues } from '../fs/template.ts';
import type { TaskSpec } from './task.ts';

export interface FileTree {
  /** Task basename: each file's task is `<basename>:<path in destination>`. */
  basename: string;
  source: string;
  destination: string;
  /** Put before each file's path in its task name (`examples` for `_iso_add_tree:examples/...`). */
  namePrefix?: string;
  task_dep: string[];
  /** The values of `@@NAME` in templates. */
  values: Readonly<Record<string, string>>;
  /** More template values, each the text of a file (upstream's storage-operator manifests). */
  fileValues?: Readonly<Record<string, string>>;
}

/** One task per file of the tree (none when the source folder does not exist). */
export function fileTreeTasks(tree: FileTree): TaskSpec[] {
  if (!existsSync(tree.source)) return [];
  return listFiles(tree.source).map((file) => {
    const templated = file.endsWith('.in');
    const name = templated ? file.slice(0, -'.in'.length) : file;
    const source = join(tree.source, file);
    const target = join(tree.destination, name);
    const context = templated ? tree.values : undefined;
    const valueFiles = templated ? Object.values(tree.fileValues ?? {}) : [];
    return {
      name: `${tree.basename}:${tree.namePrefix ? `${tree.namePrefix}/` : ''}${name}`,
      file_dep: [source, ...valueFiles],
      targets: [target],
      task_dep: tree.task_dep,
      // A template also depends on the values it uses (read now: a few small files), so that a
      // new version renders again only the templates that name it.
      ...(context
        ? {
            uptodate: [usedValues(readFileSync(source, 'utf8'), context)],
            actions: [
              async () =>
                renderTemplateFile(source, target, { ...context, ...(await readValues(tree.fileValues ?? {})) }),
            ],
          }
        : { actions: [() => copyFileAtomic(source, target)] }),
      clean: true,
    };
  });
}

async function readValues(files: Readonly<Record<string, string>>): Promise<Record<string, string>> {
  return Object.fromEntries(
    await Promise.all(Object.entries(files).map(async ([name, file]) => [name, await readFile(file, 'utf8')] as const)),
  );
}

/** A `clean` action removing a whole directory (or file): the engine's own clean keeps non-empty directories. */
export function removeTree(path: string) {
  return async ({ dryRun, log }: { dryRun: boolean; log: (message: string) => void }) => {
    log(`${dryRun ? 'would remove' : 'removing'} ${path}`);
    if (!dryRun) await rm(path, { recursive: true, force: true });
  };
}
