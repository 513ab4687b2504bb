// The ISO writer: ISO 9660 level 3 + Rock Ridge + Joliet, as upstream's
// `mkisofs -rock -joliet -joliet-long -full-iso9660-filenames -iso-level 3 -uid 0 -gid 0`.
// The layout is planned first from the tree's metadata (layout.ts); the image's size is then
// known, so a disk without room is refused before a byte is written. The image is written once,
// front to back: metadata serialized piece by piece (metadata.ts), file data streamed through
// one bounded buffer and hashed on the way (sink.ts). Files that are hard links of each other
// are stored once; files of 4 GiB or more get multi-extent records. Same tree and
// SOURCE_DATE_EPOCH, same bytes.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { BuildError, InternalError } from '../errors.ts';
import { withAtomicFile } from '../fs/atomic.ts';
import { requireFreeSpace, writeFailure } from '../fs/space.ts';
import { SECTOR } from './ecma119.ts';
import { planLayout, type Layout } from './layout.ts';
import { metadataPieces } from './metadata.ts';
import { ImageSink } from './sink.ts';
import { Kind, SourceTree } from './tree.ts';

export interface IsoOptions {
  /** Volume identifier, at most 32 characters (`MetalK8s 2.4.1-dev`). */
  volumeId: string;
  /** Timestamps are clamped to it, and volume dates set to it: byte-reproducible output. */
  sourceDateEpoch?: number;
  onProgress?: (written: number, total: number) => void;
  signal?: AbortSignal;
}

export interface IsoResult {
  bytes: number;
  sha256: string;
}

export async function writeIso(sourceDir: string, output: string, options: IsoOptions): Promise<IsoResult> {
  if (options.volumeId.length > 32 || !/^[\x20-\x7e]+$/.test(options.volumeId)) {
    throw new BuildError(`volume id '${options.volumeId}': at most 32 printable ASCII characters`);
  }
  const layout = planLayout(SourceTree.scan(sourceDir), options);
  requireFreeSpace(output, layout.totalBlocks * SECTOR);
  try {
    return await withAtomicFile(output, (tmp) => writePlanned(layout, tmp, options));
  } catch (error) {
    throw writeFailure(output, error);
  }
}

async function writePlanned(layout: Layout, tmp: string, options: IsoOptions): Promise<IsoResult> {
  const total = layout.totalBlocks * SECTOR;
  const out = await open(tmp, 'w');
  try {
    const sink = new ImageSink(out, total, options.onProgress);
    let sha256: string;
    try {
      // Every piece must start where the plan put it: else the image would be corrupt.
      const expect = (block: number, what: () => string): void => {
        if (sink.accepted !== block * SECTOR)
          throw new InternalError(`${what()} planned at block ${block}, written at byte ${sink.accepted}`);
      };
      for (const piece of metadataPieces(layout, options.volumeId)) {
        expect(piece.block, () => 'metadata');
        await sink.append(piece.bytes);
      }
      const { tree } = layout;
      for (let i = 0; i < tree.count; i++) {
        const size = tree.size(i);
        if (tree.kind(i) !== Kind.File || size === 0) continue;
        if (options.signal?.aborted) throw new BuildError('interrupted');
        const extent = layout.dataExtent[i]!;
        if (tree.linkKeys.has(i) && extent * SECTOR < sink.accepted) continue; // its inode is written already
        expect(extent, () => tree.sourcePath(i));
        const padding = (SECTOR - (size % SECTOR)) % SECTOR;
        if (size + padding <= sink.free) copyWhole(tree.sourcePath(i), size, tree.mtime(i), padding, sink);
        else {
          await copyData(tree.sourcePath(i), size, tree.mtime(i), sink);
          await sink.appendZeros(padding);
        }
      }
      expect(layout.totalBlocks, () => 'the end of the image');
      sha256 = await sink.finish();
    } catch (error) {
      await sink.abandon();
      throw error;
    }
    return { bytes: total, sha256 };
  } finally {
    await out.close();
  }
}

/**
 * Copies a file that fits whole, with its padding, in the free part of the current staging
 * buffer: all synchronously, with no await (thousands of small files would pay a few
 * microtask turns each). The same checks as copyData's.
 */
function copyWhole(source: string, size: number, mtime: number, padding: number, sink: ImageSink): void {
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch (error) {
    throw new BuildError(`${source}: cannot read (${(error as Error).message})`);
  }
  try {
    const { bytes, offset } = sink.current;
    let done = 0;
    for (let bytesRead = -1; done < size && bytesRead !== 0; done += bytesRead) {
      try {
        bytesRead = readSync(fd, bytes, offset + done, size - done, null);
      } catch (error) {
        throw new BuildError(`${source}: cannot read (${(error as Error).message})`);
      }
    }
    const now = fstatSync(fd);
    if (done !== size || now.size !== size || Math.floor(now.mtimeMs / 1000) !== mtime) {
      throw new BuildError(`${source}: changed while the ISO was being written (size ${size} -> ${now.size})`);
    }
    bytes.fill(0, offset + size, offset + size + padding);
    sink.filled(size + padding);
  } finally {
    closeSync(fd);
  }
}

/** Files up to this size are read synchronously (see copyData). */
const SYNC_READ_UP_TO = 2 << 20;

/**
 * Copies one file into the sink. Small files are read synchronously: from the page cache that
 * is a few microseconds, where each awaited round trip to the thread pool costs tens. A file
 * whose size or mtime moved since the scan is an error naming it.
 */
async function copyData(source: string, size: number, mtime: number, sink: ImageSink): Promise<void> {
  const small = size <= SYNC_READ_UP_TO;
  let fd: number | undefined;
  let handle: FileHandle | undefined;
  try {
    if (small) fd = openSync(source, 'r');
    else handle = await open(source, 'r');
  } catch (error) {
    throw new BuildError(`${source}: cannot read (${(error as Error).message})`);
  }
  try {
    let remaining = size;
    while (remaining > 0) {
      const room = await sink.space();
      const length = Math.min(room.length, remaining);
      let bytesRead: number;
      try {
        bytesRead =
          fd !== undefined
            ? readSync(fd, room.bytes, room.offset, length, null)
            : (await handle!.read(room.bytes, room.offset, length, null)).bytesRead;
      } catch (error) {
        throw new BuildError(`${source}: cannot read (${(error as Error).message})`);
      }
      if (bytesRead === 0) break;
      sink.filled(bytesRead);
      remaining -= bytesRead;
    }
    const now = fd !== undefined ? fstatSync(fd) : await handle!.stat();
    if (remaining !== 0 || now.size !== size || Math.floor(now.mtimeMs / 1000) !== mtime) {
      throw new BuildError(`${source}: changed while the ISO was being written (size ${size} -> ${now.size})`);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
    await handle?.close();
  }
}
