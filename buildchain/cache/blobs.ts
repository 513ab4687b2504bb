// The content store's side of the cache: store blobs are registry blobs of the cache repository,
// under the same digest, so nothing needs an index: a blob the store lacks is asked by HEAD,
// then read with Range (the store verifies it as any download), and a blob the store takes in
// is pushed (the push asks HEAD first, so a blob another runner shared is not sent again).
import { stat } from 'node:fs/promises';
import { fileBlob, pushBlob } from '../oci/push.ts';
import type { RangeSource, RemoteBlobs } from '../store/blob-store.ts';
import type { CacheRemote } from './remote.ts';

export class CacheBlobs implements RemoteBlobs {
  constructor(readonly remote: CacheRemote) {}

  source(digest: string): Promise<RangeSource | undefined> {
    const { health, target } = this.remote;
    return health.guard(
      `blob ${digest}`,
      async () => {
        if (!(await hasBlob(this.remote, digest))) return undefined;
        return async (offset: number) => {
          const { body, start } = await target.client.blob(target.repository, digest, offset, target.signal);
          return { body, start };
        };
      },
      undefined,
    );
  }

  refused(digest: string, error: unknown): void {
    this.remote.health.report(`blob ${digest}`, error);
  }

  async offer(digest: string, path: string): Promise<void> {
    if (!this.remote.writable) return;
    const { health, target } = this.remote;
    await health.guard(
      `blob ${digest}`,
      async () => void (await pushBlob(target, fileBlob(path, digest, (await stat(path)).size))),
      undefined,
    );
  }
}

/** HEAD with the pull scope only: a `read` runner's credentials may not allow more. */
export async function hasBlob(remote: CacheRemote, digest: string): Promise<boolean> {
  const { client, repository, signal } = remote.target;
  const response = await client.send('HEAD', repository, `blobs/${digest}`, {}, signal);
  await response.body.dump();
  if (response.status === 200) return true;
  if (response.status === 404) return false;
  throw await client.failure(response, `blob ${repository}@${digest}`);
}
