// Moving a build's inputs to a machine with no network: the blobs it needs (image manifests and
// blobs, packages, keys, spec sources) and the package lock, in one tar, exported from a
// connected machine's store and imported into another's. Every blob is named by its digest and
// checked against it on import, so the archive needs no trust of its own: a flipped byte is
// refused and leaves nothing in the store.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';
import { BuildError } from '../errors.ts';
import { withAtomicFile } from '../fs/atomic.ts';
import { digestHex } from './digest.ts';
import type { BlobStore } from './store.ts';

const BLOB = /^blobs\/sha256\/([a-f0-9]{64})$/;

/** Writes `digests` from the store, and `files` (name -> content), to `file`, atomically. */
export async function exportBlobs(store: BlobStore, digests: Iterable<string>, files: ReadonlyMap<string, string>, file: string): Promise<{ blobs: number; bytes: number }> {
  const sorted = [...new Set(digests)].sort();
  let bytes = 0;
  await withAtomicFile(file, async (tmp) => {
    const archive = pack();
    const feed = (async () => {
      for (const digest of sorted) {
        const path = store.path(digest);
        let size: number;
        try {
          size = (await stat(path)).size;
        } catch {
          throw new BuildError(`${digest}: not in the store ${store.root}; run the build on this machine first`);
        }
        bytes += size;
        await new Promise<void>((resolve, reject) => {
          const sink = archive.entry({ name: `blobs/sha256/${digestHex(digest)}`, size, mode: 0o644, mtime: new Date(0) }, (error) => (error ? reject(error) : resolve()));
          createReadStream(path).on('error', reject).pipe(sink);
        });
      }
      for (const [name, text] of files) archive.entry({ name, size: Buffer.byteLength(text), mode: 0o644, mtime: new Date(0) }, text);
      archive.finalize();
    })();
    await Promise.all([feed.catch((error: unknown) => {
      archive.destroy(error as Error);
      throw error;
    }), pipeline(archive, createWriteStream(tmp))]);
  });
  return { blobs: sorted.length, bytes };
}

/**
 * Reads an archive made by exportBlobs: blobs go to the store, each verified against its name;
 * the other files are handed to `onFile` (whose names must be in `accepted`).
 */
export async function importBlobs(store: BlobStore, file: string, accepted: ReadonlySet<string>, onFile: (name: string, content: string) => Promise<void>): Promise<{ blobs: number }> {
  let blobs = 0;
  const reader = extract();
  const consume = (async () => {
    for await (const entry of reader) {
      const name = entry.header.name;
      const blob = BLOB.exec(name);
      if (blob) {
        await store.ingest(`sha256:${blob[1]!}`, async () => ({ body: Readable.from(entry), start: 0 }), { size: entry.header.size ?? 0, describe: `${file}: ${name}` });
        entry.resume(); // drained already unless the blob was stored before
        blobs += 1;
      } else if (accepted.has(name)) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        await onFile(name, Buffer.concat(chunks).toString('utf8'));
      } else {
        throw new BuildError(`${file}: unexpected entry "${name}" (an archive of build inputs holds blobs/sha256/<hex> and ${[...accepted].join(', ')})`);
      }
    }
  })().catch((error: unknown) => {
    reader.destroy(error as Error);
    throw error;
  });
  await Promise.all([pipeline(createReadStream(file), reader).catch((error: unknown) => {
    throw error instanceof BuildError ? error : new BuildError(`${file}: ${(error as Error).message}`);
  }), consume]);
  return { blobs };
}

