// offline_export: the inputs this build fetched (images, packages, keys, spec sources, the agent's
// runtime, the package lock), in one archive to carry to a machine with no network;
// `./toolkit.ts offline-import FILE` puts them into that machine's store.
import type { BuildContext } from './context.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { exportInputs, offlineArchive } from '../buildchain/offline/inputs.ts';

export function offlineTasks({ config }: BuildContext): TaskDefinition[] {
  const file = offlineArchive(config);
  return [
    {
      name: 'offline_export',
      doc: 'Write BUILD_ROOT/offline-inputs.tar: every fetched input, for ./toolkit.ts offline-import on a machine with no network.',
      task_dep: ['_product_source', 'images', 'packaging', '_iso_add_tree'], // _iso_add_tree fetches the agent's runtime
      targets: [file],
      uptodate: [false], // the store may hold newer inputs: write it whenever asked
      actions: [
        async (ctx) => {
          const { blobs, bytes } = await exportInputs(config, file);
          ctx.log(`${file}: ${blobs} blobs, ${bytes} bytes, and the package lock`);
        },
      ],
      clean: true,
    },
  ];
}
