// Files of a base image as its layers leave them: the wanted paths of each layer unpacked in
// order into a directory, a later layer's copy replacing an earlier one's. Whiteouts are not
// applied: this serves the few files a build reads from its base (rpm database, account files).
import { requireExecutable, runTool } from '../tools.ts';
import type { Descriptor } from './media-types.ts';
import type { BlobStore } from '../store/blob-store.ts';

/** Unpacks into `dir` the entries of `layers` (in order) whose path `wanted` accepts; modes are kept. */
export async function extractFromLayers(
  store: BlobStore,
  layers: readonly Descriptor[],
  dir: string,
  wanted: (path: string) => boolean,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  const bsdtar = requireExecutable('bsdtar');
  for (const layer of layers) {
    const blob = store.path(layer.digest);
    const names = (await runTool(bsdtar, ['-tf', blob], { signal, what: `listing base layer ${layer.digest}` }))
      .split('\n')
      .filter((name) => name && !name.endsWith('/') && wanted(name.replace(/^\.\//, '')));
    if (names.length > 0)
      await runTool(bsdtar, ['-x', '-p', '-f', blob, '-C', dir, ...names], {
        signal,
        what: `reading ${what} from base layer ${layer.digest}`,
      });
  }
}
