// salt_tree: the Salt states shipped in the ISO, copied from salt-tree/ into BUILD_ROOT/root/salt.
// Files ending in `.in` are templates: @@VERSION and friends are filled in, the suffix dropped.
import { join } from 'node:path';
import type { BuildConfig } from '../buildchain/config.ts';
import type { DelayedTasks } from '../buildchain/engine/task.ts';
import { fileTreeTasks } from './file-tree.ts';

export function saltTreeTasks(config: BuildConfig): DelayedTasks[] {
  return [
    {
      basename: 'salt_tree',
      doc: 'Deploy the Salt tree in the ISO tree (BUILD_ROOT/root/salt).',
      after: [], // listed lazily: only builds that need the Salt tree walk salt-tree/
      create: () => fileTreeTasks(config, {
        basename: 'salt_tree', source: join(config.root, 'salt-tree'), destination: join(config.isoRoot, 'salt'), task_dep: ['_build_root'],
      }),
    },
  ];
}
