// _build_root: the build directory itself.
import { mkdir } from 'node:fs/promises';
import type { BuildContext } from './context.ts';
import type { TaskSpec } from '../buildchain/engine/task.ts';

export function buildRootTasks({ config }: BuildContext): TaskSpec[] {
  return [
    {
      name: '_build_root',
      doc: `Create the build root (${config.buildRoot}).`,
      targets: [config.buildRoot],
      uptodate: [true],
      actions: [async () => void (await mkdir(config.buildRoot, { recursive: true }))],
      clean: true,
    },
  ];
}
