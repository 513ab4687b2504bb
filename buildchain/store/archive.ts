// Moving a build's inputs to a machine with no network: the blobs it needs (image manifests and
// blobs, packages, keys, spec sources) and the package lock, in one tar, exported from a
// connected machine's store and imported into another's. Every blob is named by its digest and
// checked against it on import, so the archive needs no trust of its own: a flipped byte is
// refused and leaves nothing in the store.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';
import { BuildError } from '../errors.ts';
import { withAtomicFile } from '../fs/atomic.ts';
import { isDiskFailure, requireFreeSpace, writeFailure } from '../fs/space.ts';
import { createSha256, digestHex, hexDigest } from './sha256.ts';
import type { BlobStore } from './blob-store.ts';

const BLOB = /^blobs\/sha256\/([a-f0-9]{64})$/;
const DIRECTORIES = ['blobs/', 'blobs/sha256/'];

/**
 * Writes `digests` from the store (as blobs/sha256/<hex>, the OCI layout's place for them) and
 * `files` (name -> content, in that order) to `file`, atomically: sorted, uid/gid 0, times
 * `mtime`, so the same inputs give the same bytes.
 */
export async function writeBlobArchive(
  store: BlobStore,
  digests: Iterable<string>,
  files: ReadonlyMap<string, string>,
  file: string,
  options: { mtime?: Date } = {},
): Promise<{ blobs: number; bytes: number; sha256: string }> {
  const sorted = [...new Set(digests)].sort();
  const mtime = options.mtime ?? new Date(0);
  const header = (name: string, size: number, type: 'file' | 'directory' = 'file') => ({
    name,
    size,
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime,
  });
  const sizes = new Map<string, number>();
  for (const digest of sorted) {
    try {
      sizes.set(digest, (await stat(store.path(digest))).size);
    } catch {
      throw new BuildError(`${digest}: not in the store ${store.root}`);
    }
  }
  // Each entry is a 512-byte header and its data padded to 512; two zero blocks end the archive.
  const padded = (size: number): number => 512 + Math.ceil(size / 512) * 512;
  const entrySizes = [
    ...DIRECTORIES.map(() => 0),
    ...sizes.values(),
    ...[...files.values()].map((text) => Buffer.byteLength(text)),
  ];
  requireFreeSpace(
    file,
    entrySizes.reduce((sum, size) => sum + padded(size), 1024),
  );
  let bytes = 0;
  // Hashed as written: the archive's own digest, for whoever must know it (the ISO's file_dep, the SBOM).
  const hash = createSha256();
  try {
    await withAtomicFile(file, async (tmp) => {
      const archive = pack();
      const feed = (async () => {
        for (const dir of DIRECTORIES) archive.entry(header(dir, 0, 'directory'));
        for (const digest of sorted) {
          const size = sizes.get(digest)!;
          bytes += size;
          await new Promise<void>((resolve, reject) => {
            const sink = archive.entry(header(`blobs/sha256/${digestHex(digest)}`, size), (error) =>
              error ? reject(error) : resolve(),
            );
            createReadStream(store.path(digest)).on('error', reject).pipe(sink);
          });
        }
        for (const [name, text] of files) archive.entry(header(name, Buffer.byteLength(text)), text);
        archive.finalize();
      })();
      await Promise.all([
        feed.catch((error: unknown) => {
          archive.destroy(error as Error);
          throw error;
        }),
        pipeline(
          archive,
          new Transform({
            transform(chunk: Buffer, _encoding, done) {
              hash.update(chunk);
              done(null, chunk);
            },
          }),
          createWriteStream(tmp, { mode: 0o644 }),
        ),
      ]);
    });
  } catch (error) {
    throw isDiskFailure(error) ? writeFailure(file, error) : error;
  }
  return { blobs: sorted.length, bytes, sha256: `sha256:${hash.digest('hex')}` };
}

/**
 * Reads an archive made by writeBlobArchive: blobs go to the store, each verified against its name;
 * the other files are handed to `onFile` (whose names must be in `accepted`).
 */
export async function importBlobs(
  store: BlobStore,
  file: string,
  accepted: ReadonlySet<string>,
  onFile: (name: string, content: string) => Promise<void>,
): Promise<{ blobs: number }> {
  let blobs = 0;
  let entries = 0;
  const reader = extract();
  // tar-stream's own errors ("Invalid tar header") name no file: each failure says which archive.
  // A system error (ENOSPC, EACCES...) is about the disk, not the archive, and says so.
  const named = (error: unknown) =>
    error instanceof BuildError
      ? error
      : new BuildError(
          (error as NodeJS.ErrnoException).code
            ? `${file}: ${(error as Error).message}`
            : `${file}: not a readable tar archive of build inputs (${(error as Error).message})`,
        );
  const consume = (async () => {
    for await (const entry of reader) {
      entries += 1;
      const name = entry.header.name;
      const blob = BLOB.exec(name);
      if (DIRECTORIES.includes(name)) {
        entry.resume();
      } else if (blob) {
        await store.ingest(hexDigest(blob[1]!), async () => ({ body: Readable.from(entry), start: 0 }), {
          size: entry.header.size ?? 0,
          describe: `${file}: ${name}`,
        });
        entry.resume(); // drained already unless the blob was stored before
        blobs += 1;
      } else if (accepted.has(name)) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        await onFile(name, Buffer.concat(chunks).toString('utf8'));
      } else {
        throw new BuildError(
          `${file}: unexpected entry "${name}" (an archive of build inputs holds blobs/sha256/<hex> and ${[...accepted].join(', ')})`,
        );
      }
    }
  })().catch((error: unknown) => {
    reader.destroy(error as Error);
    throw named(error);
  });
  await Promise.all([
    pipeline(createReadStream(file), reader).catch((error: unknown) => {
      throw named(error);
    }),
    consume,
  ]);
  if (entries === 0) throw new BuildError(`${file}: not a tar archive of build inputs (it holds no entries)`);
  return { blobs };
}
