// The engine benchmark's graph for ./build.ts: BENCH_TASKS tasks each copying one file, and one
// aggregate task depending on every copy. Same graph as dodo.py.
import { copyFileAtomic, writeFileAtomic } from '../../buildchain/fs/atomic.ts';
import type { TaskDefinition, TaskSpec } from '../../buildchain/engine/task.ts';

export const DEFAULT_TASKS = ['aggregate'];

export function tasks(): TaskDefinition[] {
  const count = Number(process.env.BENCH_TASKS);
  const copies = Array.from({ length: count }, (_, i): TaskSpec => {
    const name = String(i).padStart(5, '0');
    return {
      name: `copy:${name}`,
      file_dep: [`src/${name}`],
      targets: [`out/${name}`],
      actions: [() => copyFileAtomic(`src/${name}`, `out/${name}`)],
    };
  });
  return [
    ...copies,
    {
      name: 'aggregate',
      file_dep: copies.map((task) => task.targets![0]!),
      targets: ['all.txt'],
      actions: [() => writeFileAtomic('all.txt', String(count))],
    },
  ];
}
