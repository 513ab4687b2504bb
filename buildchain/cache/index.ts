// The shared build cache in an existing OCI registry (CACHE_REGISTRY): one repository holds the
// content store's blobs under their own digests and the results of cacheable tasks as artifacts
// tagged by their keys. Opening it hands the store its remote and the engine its result cache.
import type { ResultCache } from '../engine/task.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { CacheBlobs } from './blobs.ts';
import { CacheRemote } from './remote.ts';
import { CacheResults } from './results.ts';
import type { CacheSettings } from './settings.ts';

export { parseCacheRegistry, type CacheMode, type CacheSettings } from './settings.ts';

export function openCache(settings: CacheSettings, store: BlobStore): { remote: CacheRemote; results: ResultCache } {
  const remote = new CacheRemote(settings);
  store.remote = new CacheBlobs(remote);
  return { remote, results: new CacheResults(remote, store) };
}
