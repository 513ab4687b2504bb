import { createHash } from 'node:crypto';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { writeBlobArchive } from './archive.ts';
import { BlobStore } from './blob-store.ts';
import * as sha256 from './sha256.ts';

afterEach(() => vi.restoreAllMocks());

describe('downloads from the remote', () => {
  it('take at most 8 blobs at once, however many are asked for', async () => {
    const store = new BlobStore(join(tempDir(), 'cache'));
    let running = 0;
    let most = 0;
    const blobs = Array.from({ length: 20 }, (_, i) => Buffer.from(`blob ${i}\n`));
    store.remote = {
      source: async (digest) => {
        const bytes = blobs.find((blob) => sha256.sha256Digest(blob) === digest)!;
        return async () => {
          running += 1;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 20));
          running -= 1;
          return { body: Readable.from([bytes]), start: 0 };
        };
      },
      refused: (_digest, error) => {
        throw error;
      },
      offer: async () => {},
    };
    const present = await Promise.all(blobs.map((blob) => store.has(sha256.sha256Digest(blob))));
    expect(present.every(Boolean)).toBe(true);
    expect(most).toBe(8);
  });
});

describe('a blob archive', () => {
  it('is hashed as it is written, and once vouched for is known without a read', async () => {
    const store = new BlobStore(join(tempDir(), 'cache'));
    const bytes = Buffer.from('a layer\n');
    const digest = sha256.sha256Digest(bytes);
    await store.put(digest, bytes, 'test blob');
    const file = join(tempDir(), 'image.tar');
    const written = await writeBlobArchive(store, [digest], new Map([['index.json', '{}']]), file);
    expect(written.sha256).toBe(`sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`);

    await store.vouch(file, written.sha256);
    const reads = vi.spyOn(sha256, 'sha256File');
    expect(await store.sha256Of(file)).toBe(written.sha256.slice(7));
    expect(reads).not.toHaveBeenCalled();
    // Rewritten in place with as many bytes: only its mtime tells, and it is read again.
    const other = Buffer.alloc(statSync(file).size, 'x');
    writeFileSync(file, other);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(await store.sha256Of(file)).toBe(createHash('sha256').update(other).digest('hex'));
    expect(reads).toHaveBeenCalledTimes(1);
  });
});
