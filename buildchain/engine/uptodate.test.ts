import { createHash } from 'node:crypto';
import { linkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { BlobStore } from '../store/blob-store.ts';
import * as sha256 from '../store/sha256.ts';
import { StateStore } from './state.ts';
import { FileDigests, shortDigest } from './uptodate.ts';

const hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** A project root holding `files`, its state, and a spy on every file the engine reads to hash. */
function setup(files: Record<string, string>) {
  const root = tempDir();
  for (const [path, text] of Object.entries(files)) writeFileSync(join(root, path), text);
  const state = new StateStore(join(tempDir(), '.engine'));
  const reads = vi.spyOn(sha256, 'sha256File');
  return { root, state, reads };
}

/** A content store holding one blob of `text`. */
async function storeHolding(text: string): Promise<BlobStore> {
  const store = new BlobStore(join(tempDir(), 'cache'));
  const incoming = join(tempDir(), 'blob');
  writeFileSync(incoming, text);
  await store.adopt(incoming, `sha256:${hex(text)}`);
  return store;
}

afterEach(() => vi.restoreAllMocks());

describe('file digests', () => {
  it('read the content of names sharing one inode once', async () => {
    const { root, state, reads } = setup({ 'a.bin': 'layer' });
    linkSync(join(root, 'a.bin'), join(root, 'b.bin'));
    const files = new FileDigests(root, state);
    const digests = await Promise.all([files.digest('a.bin'), files.digest('b.bin')]);
    expect(digests).toEqual([shortDigest(hex('layer')), shortDigest(hex('layer'))]);
    expect(reads).toHaveBeenCalledTimes(1);
    // Both names are recorded: the next run knows each without reading.
    expect(state.file('b.bin')?.[3]).toBe(shortDigest(hex('layer')));
  });

  it('take a digest the project knows from its store without reading the file', async () => {
    const { root, state, reads } = setup({});
    const store = await storeHolding('blob');
    await store.linkTo(`sha256:${hex('blob')}`, join(root, 'placed.bin'));
    const files = new FileDigests(root, state, true, (stats) => store.knownDigest(stats));
    expect(await files.digest('placed.bin')).toBe(shortDigest(hex('blob')));
    expect(reads).not.toHaveBeenCalled();
  });

  it('read a file the store placed once it was replaced by other content', async () => {
    const { root, state, reads } = setup({});
    const store = await storeHolding('blob');
    const placed = join(root, 'placed.bin');
    await store.linkTo(`sha256:${hex('blob')}`, placed);
    const linked = statSync(placed);
    // Written through the link would change the store's blob too: a new file under the name is
    // the way a task replaces it, and it is another inode.
    writeFileSync(join(root, 'other'), 'edited');
    renameSync(join(root, 'other'), placed);
    expect(statSync(placed).ino).not.toBe(linked.ino);
    const files = new FileDigests(root, state, true, (stats) => store.knownDigest(stats));
    expect(await files.digest('placed.bin')).toBe(shortDigest(hex('edited')));
    expect(reads).toHaveBeenCalledTimes(1);
  });
});
