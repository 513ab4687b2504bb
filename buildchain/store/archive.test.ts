import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { writeBlobArchive } from './archive.ts';
import { BlobStore } from './blob-store.ts';
import * as sha256 from './sha256.ts';

afterEach(() => vi.restoreAllMocks());

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
    // Rewritten: another mtime, so read again.
    writeFileSync(file, 'other');
    expect(await store.sha256Of(file)).toBe(createHash('sha256').update('other').digest('hex'));
    expect(reads).toHaveBeenCalledTimes(1);
  });
});
