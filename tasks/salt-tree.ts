// salt_tree: the Salt states shipped in the ISO, copied from salt-tree/ into BUILD_ROOT/root/salt.
// Files ending in `.in` are templates: @@VERSION and friends are filled in, the suffix dropped.
import { join } from 'node:path';
import type { BuildConfig } from '../buildchain/config.ts';
import type { DelayedTasks, TaskSpec } from '../buildchain/engine/task.ts';
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

export function saltTreeTasks(config: BuildConfig): DelayedTasks[] {
  const source = join(config.root, 'salt-tree');
  const destination = join(config.isoRoot, 'salt');
  return [
    {
      basename: 'salt_tree',
      doc: 'Deploy the Salt tree in the ISO tree (BUILD_ROOT/root/salt).',
      after: [], // listed lazily: only builds that need the Salt tree walk salt-tree/
      create: () => listFiles(source).map((file) => saltFileTask(config, join(source, file), destination, file)),
    },
  ];
}

function saltFileTask(config: BuildConfig, source: string, destination: string, file: string): TaskSpec {
  const templated = file.endsWith('.in');
  const name = templated ? file.slice(0, -'.in'.length) : file;
  const target = join(destination, name);
  const context = templated ? templateContext(config) : undefined;
  return {
    name: `salt_tree:${name}`,
    file_dep: [source],
    targets: [target],
    task_dep: ['_build_root'],
    // A template also depends on the values it is rendered with.
    ...(context
      ? { uptodate: [context], actions: [() => renderTemplateFile(source, target, context)] }
      : { actions: [() => copyFileAtomic(source, target)] }),
    clean: true,
  };
}
