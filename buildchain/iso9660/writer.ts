// The ISO writer: ISO 9660 level 3 + Rock Ridge + Joliet, as upstream's
// `mkisofs -rock -joliet -joliet-long -full-iso9660-filenames -iso-level 3 -uid 0 -gid 0`.
// The layout (every block of metadata and every extent) is planned first, in memory, from the
// tree's metadata only; then the image is written once, front to back, file data streamed
// through one bounded buffer and hashed on the way. Files that are hard links of each other are
// stored once; files of 4 GiB or more get multi-extent records. Same tree and
// SOURCE_DATE_EPOCH, same bytes.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { BuildError } from '../errors.ts';
import { withAtomicFile } from '../fs/atomic.ts';
import { ParallelSha256 } from '../fs/parallel-hash.ts';
import {
  FIRST_DESCRIPTOR, FLAG_DIRECTORY, FLAG_MULTI_EXTENT, MAX_EXTENT, MAX_RECORD, SECTOR,
  bothEndian16, bothEndian32, directoryRecord, encodeUcs2, paddedField, pathTableRecord,
  recordBaseLength, recordDate, sectorsFor, volumeDate,
} from './ecma119.ts';
import { assignIdentifiers, compareIso, compareJoliet } from './names.ts';
import * as rrip from './rockridge.ts';
import { scanTree, type SourceNode } from './tree.ts';

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

interface Entry {
  node: SourceNode;
  iso: string;
  joliet: string;
  dir?: Dir;
  su?: SystemUse;
}

interface Dir {
  node: SourceNode;
  parent: Dir | undefined;
  /** This directory's entry in its parent (undefined for the root). */
  entry?: Entry;
  entries: Entry[];
  iso: { number: number; extent: number; size: number };
  joliet: { number: number; extent: number; size: number };
  dotSu?: SystemUse;
  dotDotSu?: SystemUse;
}

/** Rock Ridge entries of one record: those inside it, the rest in chained continuation chunks. */
interface SystemUse {
  inline: Buffer[];
  chunks: Buffer[][];
  places: { block: number; offset: number; length: number }[];
}

interface DataExtent {
  start: number;
  size: number;
  node: SourceNode;
}

const APPLICATION = 'METALK8S BUILDCHAIN (TYPESCRIPT ISO 9660 WRITER)';

export async function writeIso(sourceDir: string, output: string, options: IsoOptions): Promise<IsoResult> {
  if (options.volumeId.length > 32 || !/^[\x20-\x7e]+$/.test(options.volumeId)) {
    throw new BuildError(`volume id '${options.volumeId}': at most 32 printable ASCII characters`);
  }
  const plan = planLayout(scanTree(sourceDir), options);
  try {
    return await withAtomicFile(output, (tmp) => writePlanned(plan, tmp, options));
  } catch (error) {
    if (error instanceof BuildError) throw error;
    throw new BuildError(`${output}: ${(error as Error).message}`);
  }
}

interface Plan {
  metadata: Buffer;
  data: DataExtent[];
  totalBlocks: number;
}

function planLayout(tree: SourceNode, options: IsoOptions): Plan {
  const epoch = options.sourceDateEpoch;
  const timeOf = (node: SourceNode): number => (epoch === undefined ? node.mtime : Math.min(node.mtime, epoch));
  const volumeTime = epoch ?? Math.floor(Date.now() / 1000);

  // Hard links: how many names each inode has in this tree.
  const linkCounts = new Map<string, number>();
  const countLinks = (node: SourceNode): void => {
    if (node.linkKey) linkCounts.set(node.linkKey, (linkCounts.get(node.linkKey) ?? 0) + 1);
    node.children.forEach(countLinks);
  };
  countLinks(tree);

  const makeDir = (node: SourceNode, parent: Dir | undefined): Dir => {
    const ids = assignIdentifiers(node.children.map((child) => ({ name: child.name, directory: child.kind === 'directory' })));
    const dir: Dir = { node, parent, entries: [], iso: { number: 0, extent: 0, size: 0 }, joliet: { number: 0, extent: 0, size: 0 } };
    dir.entries = node.children.map((child, i) => {
      const entry: Entry = { node: child, iso: ids[i]!.iso, joliet: ids[i]!.joliet };
      if (child.kind === 'directory') {
        entry.dir = makeDir(child, dir);
        entry.dir.entry = entry;
      }
      return entry;
    });
    return dir;
  };
  const root = makeDir(tree, undefined);

  // Path table order: level by level, children in identifier order (different per name space).
  const order = (compare: (a: Entry, b: Entry) => number): Dir[] => {
    const dirs = [root];
    for (let i = 0; i < dirs.length; i++) {
      dirs.push(...dirs[i]!.entries.filter((e) => e.dir).sort(compare).map((e) => e.dir!));
    }
    return dirs;
  };
  const isoDirs = order((a, b) => compareIso(a.iso, b.iso));
  const jolietDirs = order((a, b) => compareJoliet(a.joliet, b.joliet));
  isoDirs.forEach((dir, i) => (dir.iso.number = i + 1));
  jolietDirs.forEach((dir, i) => (dir.joliet.number = i + 1));

  // Rock Ridge entries of every primary record.
  const attributes = (node: SourceNode, links: number): Buffer[] => [rrip.px(node.mode, links), rrip.tf(timeOf(node))];
  const dirLinks = (dir: Dir): number => 2 + dir.entries.filter((e) => e.dir).length;
  for (const dir of isoDirs) {
    const own = attributes(dir.node, dirLinks(dir));
    const parent = dir.parent ?? dir;
    const rr = rrip.rr({ px: true, tf: true });
    dir.dotSu = dir === root
      ? fitSystemUse([rrip.sp(), rr, ...own], 1, [rrip.er()])
      : fitSystemUse([rr, ...own], 1);
    dir.dotDotSu = fitSystemUse([rr, ...attributes(parent.node, dirLinks(parent))], 1);
    for (const entry of dir.entries) {
      const node = entry.node;
      const links = node.kind === 'directory' ? dirLinks(entry.dir!) : node.linkKey ? linkCounts.get(node.linkKey)! : 1;
      const entries = [
        rrip.rr({ px: true, tf: true, nm: true, sl: node.kind === 'symlink', pn: node.kind === 'special' }),
        ...attributes(node, links),
        ...(node.kind === 'special' && (node.mode & 0o170000) !== 0o010000 ? [rrip.pn(node.rdev)] : []),
        ...rrip.nm(node.name),
        ...(node.kind === 'symlink' ? rrip.sl(node.target!) : []),
      ];
      entry.su = fitSystemUse(entries, Buffer.byteLength(entry.iso, 'latin1'));
    }
  }

  // Sizes of directory extents (records never cross a sector boundary).
  const recordsSize = (lengths: number[]): number => packRecords(lengths).size;
  const parts = (node: SourceNode): number => (node.kind === 'file' ? Math.max(1, Math.ceil(node.size / MAX_EXTENT)) : 1);
  for (const dir of isoDirs) {
    const lengths = [recordLength(1, dir.dotSu!), recordLength(1, dir.dotDotSu!)];
    for (const entry of dir.entries) {
      const length = recordLength(Buffer.byteLength(entry.iso, 'latin1'), entry.su!);
      for (let p = 0; p < parts(entry.node); p++) lengths.push(length);
    }
    dir.iso.size = recordsSize(lengths);
  }
  for (const dir of jolietDirs) {
    const lengths = [34, 34];
    for (const entry of dir.entries) {
      const length = recordBaseLength(entry.joliet.length * 2);
      for (let p = 0; p < parts(entry.node); p++) lengths.push(length);
    }
    dir.joliet.size = recordsSize(lengths);
  }

  // Path tables.
  const isoPathId = (dir: Dir): Buffer => (dir === root ? Buffer.from([0]) : Buffer.from(dir.entry!.iso, 'latin1'));
  const jolietPathId = (dir: Dir): Buffer => (dir === root ? Buffer.from([0]) : encodeUcs2(dir.entry!.joliet));
  const pathTableSize = (dirs: Dir[], id: (dir: Dir) => Buffer): number => dirs.reduce((sum, dir) => sum + 8 + id(dir).length + (id(dir).length % 2), 0);
  const isoPathSize = pathTableSize(isoDirs, isoPathId);
  const jolietPathSize = pathTableSize(jolietDirs, jolietPathId);

  // Block allocation, front to back.
  let next = FIRST_DESCRIPTOR + 3; // primary, Joliet supplementary, terminator
  const take = (sectors: number): number => {
    const at = next;
    next += sectors;
    return at;
  };
  const isoL = take(sectorsFor(isoPathSize));
  const isoM = take(sectorsFor(isoPathSize));
  const jolietL = take(sectorsFor(jolietPathSize));
  const jolietM = take(sectorsFor(jolietPathSize));
  // Continuation chunks, packed into sectors right after the directory whose records point to
  // them: libarchive reads an image as a forward stream and only looks for them there.
  let ceBlock = -1;
  let ceOffset = SECTOR;
  const placeChunks = (su: SystemUse): void => {
    for (const chunk of su.chunks) {
      const length = chunk.reduce((sum, b) => sum + b.length, 0) + (chunk === su.chunks.at(-1) ? 0 : rrip.CE_LENGTH);
      if (ceOffset + length > SECTOR) {
        ceBlock = take(1);
        ceOffset = 0;
      }
      su.places.push({ block: ceBlock, offset: ceOffset, length });
      ceOffset += length;
    }
  };
  for (const dir of isoDirs) {
    dir.iso.extent = take(dir.iso.size / SECTOR);
    ceOffset = SECTOR;
    placeChunks(dir.dotSu!);
    placeChunks(dir.dotDotSu!);
    for (const entry of dir.entries) placeChunks(entry.su!);
  }
  for (const dir of jolietDirs) dir.joliet.extent = take(dir.joliet.size / SECTOR);
  // File data, in tree order; a hard-linked inode once.
  const data: DataExtent[] = [];
  const extentOf = new Map<SourceNode, DataExtent>();
  const byInode = new Map<string, DataExtent>();
  const metadataBlocks = next;
  const allocateData = (dir: Dir): void => {
    for (const entry of dir.entries) {
      const node = entry.node;
      if (node.kind === 'directory') allocateData(entry.dir!);
      if (node.kind !== 'file' || node.size === 0) continue;
      const shared = node.linkKey ? byInode.get(node.linkKey) : undefined;
      if (shared) {
        extentOf.set(node, shared);
        continue;
      }
      const extent: DataExtent = { start: take(sectorsFor(node.size)), size: node.size, node };
      data.push(extent);
      extentOf.set(node, extent);
      if (node.linkKey) byInode.set(node.linkKey, extent);
    }
  };
  allocateData(root);
  const totalBlocks = next;

  // Metadata bytes.
  const metadata = Buffer.alloc(metadataBlocks * SECTOR);
  const at = (block: number): number => block * SECTOR;
  const su = (s: SystemUse): Buffer => serializeSystemUse(s, metadata);
  const recordsOf = (entry: Entry, identifier: Buffer, systemUse: Buffer | undefined, joliet: boolean): Buffer[] => {
    const node = entry.node;
    const date = recordDate(timeOf(node));
    if (entry.dir) {
      const place = joliet ? entry.dir.joliet : entry.dir.iso;
      return [directoryRecord({ extent: place.extent, size: place.size, date, flags: FLAG_DIRECTORY, identifier, systemUse })];
    }
    const extent = extentOf.get(node);
    if (!extent) return [directoryRecord({ extent: 0, size: 0, date, flags: 0, identifier, systemUse })];
    const records: Buffer[] = [];
    for (let p = 0, remaining = extent.size; p === 0 || remaining > 0; p++) {
      const size = Math.min(remaining, MAX_EXTENT);
      remaining -= size;
      const flags = remaining > 0 ? FLAG_MULTI_EXTENT : 0;
      records.push(directoryRecord({ extent: extent.start + (p * MAX_EXTENT) / SECTOR, size, date, flags, identifier, systemUse }));
    }
    return records;
  };
  const writeDirectory = (dir: Dir, joliet: boolean): void => {
    const place = joliet ? dir.joliet : dir.iso;
    const parent = dir.parent ?? dir;
    const parentPlace = joliet ? parent.joliet : parent.iso;
    const date = recordDate(timeOf(dir.node));
    const records = [
      directoryRecord({ extent: place.extent, size: place.size, date, flags: FLAG_DIRECTORY, identifier: Buffer.from([0]), systemUse: joliet ? undefined : su(dir.dotSu!) }),
      directoryRecord({ extent: parentPlace.extent, size: parentPlace.size, date: recordDate(timeOf(parent.node)), flags: FLAG_DIRECTORY, identifier: Buffer.from([1]), systemUse: joliet ? undefined : su(dir.dotDotSu!) }),
    ];
    const entries = [...dir.entries].sort(joliet ? (a, b) => compareJoliet(a.joliet, b.joliet) : (a, b) => compareIso(a.iso, b.iso));
    for (const entry of entries) {
      const identifier = joliet ? encodeUcs2(entry.joliet) : Buffer.from(entry.iso, 'latin1');
      records.push(...recordsOf(entry, identifier, joliet ? undefined : su(entry.su!), joliet));
    }
    const packed = packRecords(records.map((record) => record.length));
    // The sizes planned from lengths must be the sizes written: else the image would be corrupt.
    if (packed.size !== place.size) throw new Error(`directory /${dir.node.path}: planned ${place.size} bytes of records, wrote ${packed.size}`);
    records.forEach((record, i) => record.copy(metadata, at(place.extent) + packed.offsets[i]!));
  };
  isoDirs.forEach((dir) => writeDirectory(dir, false));
  jolietDirs.forEach((dir) => writeDirectory(dir, true));

  const writePathTables = (dirs: Dir[], id: (dir: Dir) => Buffer, number: (dir: Dir) => number, extent: (dir: Dir) => number, l: number, m: number): void => {
    let lo = at(l);
    let mo = at(m);
    for (const dir of dirs) {
      const parent = number(dir.parent ?? dir);
      lo += pathTableRecord(id(dir), extent(dir), parent, false).copy(metadata, lo);
      mo += pathTableRecord(id(dir), extent(dir), parent, true).copy(metadata, mo);
    }
  };
  writePathTables(isoDirs, isoPathId, (d) => d.iso.number, (d) => d.iso.extent, isoL, isoM);
  writePathTables(jolietDirs, jolietPathId, (d) => d.joliet.number, (d) => d.joliet.extent, jolietL, jolietM);

  const descriptor = (type: number, joliet: boolean): Buffer => {
    const d = Buffer.alloc(SECTOR);
    d[0] = type;
    d.write('CD001', 1, 'latin1');
    d[6] = 1;
    paddedField('LINUX', 32, joliet).copy(d, 8);
    paddedField(options.volumeId, 32, joliet).copy(d, 40);
    bothEndian32(d, 80, totalBlocks);
    if (joliet) d.write('%/E', 88, 'latin1'); // Joliet, UCS-2 level 3
    bothEndian16(d, 120, 1);
    bothEndian16(d, 124, 1);
    bothEndian16(d, 128, SECTOR);
    bothEndian32(d, 132, joliet ? jolietPathSize : isoPathSize);
    d.writeUInt32LE(joliet ? jolietL : isoL, 140);
    d.writeUInt32BE(joliet ? jolietM : isoM, 148);
    const place = joliet ? root.joliet : root.iso;
    directoryRecord({ extent: place.extent, size: place.size, date: recordDate(timeOf(root.node)), flags: FLAG_DIRECTORY, identifier: Buffer.from([0]) }).copy(d, 156);
    for (const [offset, length] of [[190, 128], [318, 128], [446, 128]] as const) paddedField('', length, joliet).copy(d, offset);
    paddedField(APPLICATION, 128, joliet).copy(d, 574);
    for (const [offset, length] of [[702, 37], [739, 37], [776, 37]] as const) paddedField('', length, joliet).copy(d, offset);
    volumeDate(volumeTime).copy(d, 813);
    volumeDate(volumeTime).copy(d, 830);
    volumeDate(undefined).copy(d, 847);
    volumeDate(volumeTime).copy(d, 864);
    d[881] = 1;
    return d;
  };
  descriptor(1, false).copy(metadata, at(FIRST_DESCRIPTOR));
  descriptor(2, true).copy(metadata, at(FIRST_DESCRIPTOR + 1));
  const terminator = Buffer.alloc(SECTOR);
  terminator[0] = 255;
  terminator.write('CD001', 1, 'latin1');
  terminator[6] = 1;
  terminator.copy(metadata, at(FIRST_DESCRIPTOR + 2));

  return { metadata, data, totalBlocks };
}

/**
 * Where each directory record goes: records are packed in order and never cross a sector
 * boundary (ECMA-119 6.8.1.1). Returns their offsets and the extent's size in whole sectors.
 * One function for planning and for writing, so the two cannot disagree.
 */
function packRecords(lengths: readonly number[]): { offsets: number[]; size: number } {
  const offsets: number[] = [];
  let offset = 0;
  for (const length of lengths) {
    if ((offset % SECTOR) + length > SECTOR) offset += SECTOR - (offset % SECTOR);
    offsets.push(offset);
    offset += length;
  }
  return { offsets, size: Math.max(1, sectorsFor(offset)) * SECTOR };
}

function recordLength(identifierLength: number, su: SystemUse): number {
  const inline = su.inline.reduce((sum, b) => sum + b.length, 0) + (su.chunks.length > 0 ? rrip.CE_LENGTH : 0);
  const length = recordBaseLength(identifierLength) + inline;
  return length + (length % 2);
}

/**
 * Splits Rock Ridge entries between the record (as many as fit, leaving room for a CE entry)
 * and continuation chunks of at most one sector, each but the last ending with a CE entry.
 */
function fitSystemUse(entries: Buffer[], identifierLength: number, forcedContinuation: Buffer[] = []): SystemUse {
  const budget = MAX_RECORD - recordBaseLength(identifierLength) - 1; // -1: room for an even-length pad
  const total = entries.reduce((sum, b) => sum + b.length, 0);
  if (total <= budget && forcedContinuation.length === 0) return { inline: entries, chunks: [], places: [] };
  const inline: Buffer[] = [];
  let used = rrip.CE_LENGTH;
  let i = 0;
  while (i < entries.length && used + entries[i]!.length <= budget) {
    used += entries[i]!.length;
    inline.push(entries[i++]!);
  }
  const rest = [...entries.slice(i), ...forcedContinuation];
  const chunks: Buffer[][] = [];
  let chunk: Buffer[] = [];
  let size = 0;
  for (const item of rest) {
    if (size + item.length + rrip.CE_LENGTH > SECTOR) {
      chunks.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(item);
    size += item.length;
  }
  chunks.push(chunk);
  return { inline, chunks, places: [] };
}

/** The record's system use bytes; writes its continuation chunks into the metadata on the way. */
function serializeSystemUse(su: SystemUse, metadata: Buffer): Buffer {
  const ceTo = (index: number): Buffer[] => {
    const place = su.places[index];
    return place ? [rrip.ce(place.block, place.offset, place.length)] : [];
  };
  su.chunks.forEach((chunk, i) => {
    const bytes = Buffer.concat([...chunk, ...ceTo(i + 1)]);
    bytes.copy(metadata, su.places[i]!.block * SECTOR + su.places[i]!.offset);
  });
  const bytes = Buffer.concat([...su.inline, ...ceTo(0)]);
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.alloc(1)]);
}

const CHUNK = 2 << 20;
/** Staging buffers in rotation: one being filled while the others are written. */
const BUFFERS = 3;
const PARALLEL_HASH_FROM = 64 << 20;

interface Staging {
  bytes: Buffer;
  written: Promise<void>;
}

/**
 * Where the image goes. Bytes are packed into 2 MiB staging buffers; a full buffer is hashed (in a
 * worker thread for large images) and written by libuv's threads while the next one fills, so
 * thousands of small files cost a few hundred large writes and, on two cores, the hash costs
 * little wall time. One write at a time: concurrent writes into one file contend in the kernel
 * (measured).
 */
class ImageSink {
  position = 0;
  private readonly buffers: Staging[];
  private index = 0;
  private fill = 0;
  private tail: Promise<void> = Promise.resolve();
  /** Large images are hashed in a worker thread, small ones here (a worker costs ~30 ms to start). */
  private readonly parallel: ParallelSha256 | undefined;
  private readonly hash = process.getBuiltinModule('node:crypto').createHash('sha256');

  constructor(private readonly out: FileHandle, private readonly total: number, private readonly options: IsoOptions) {
    const parallel = total >= PARALLEL_HASH_FROM;
    this.buffers = Array.from({ length: BUFFERS }, () => ({
      bytes: parallel ? ParallelSha256.sharedBuffer(CHUNK) : Buffer.allocUnsafe(CHUNK),
      written: Promise.resolve(),
    }));
    this.parallel = parallel ? new ParallelSha256(this.buffers.map((b) => b.bytes)) : undefined;
  }

  /** The free part of the current staging buffer, after flushing it if it is full. */
  async space(): Promise<{ bytes: Buffer; offset: number; length: number }> {
    if (this.fill === CHUNK) await this.flush();
    const current = this.buffers[this.index]!;
    return { bytes: current.bytes, offset: this.fill, length: CHUNK - this.fill };
  }

  /** Records that `length` bytes were put at the offset `space()` returned. */
  filled(length: number): void {
    this.fill += length;
  }

  append(bytes: Buffer): Promise<void> {
    return this.put(bytes.length, (target, offset, length, done) => bytes.copy(target, offset, done, done + length));
  }

  appendZeros(count: number): Promise<void> {
    return this.put(count, (target, offset, length) => target.fill(0, offset, offset + length));
  }

  /** Puts `count` bytes through the staging buffers, `fill` writing each piece in place. */
  private async put(count: number, fill: (target: Buffer, offset: number, length: number, done: number) => void): Promise<void> {
    for (let done = 0; done < count; ) {
      const room = await this.space();
      const length = Math.min(room.length, count - done);
      fill(room.bytes, room.offset, length, done);
      this.filled(length);
      done += length;
    }
  }

  private async flush(): Promise<void> {
    const current = this.buffers[this.index]!;
    const bytes = current.bytes.subarray(0, this.fill);
    let hashed: Promise<void> | undefined;
    if (this.parallel) hashed = this.parallel.update(this.index, bytes.length);
    else this.hash.update(bytes);
    const at = this.position;
    this.position += bytes.length;
    this.tail = this.tail.then(async () => {
      await this.out.write(bytes, 0, bytes.length, at);
      this.options.onProgress?.(at + bytes.length, this.total);
    });
    // Refilled only once written and hashed.
    current.written = hashed ? Promise.all([this.tail, hashed]).then(() => undefined) : this.tail;
    this.index = (this.index + 1) % BUFFERS;
    this.fill = 0;
    await this.buffers[this.index]!.written; // its last write must be done before it is refilled
  }

  async finish(): Promise<string> {
    if (this.fill > 0) await this.flush();
    await this.tail;
    return this.parallel ? this.parallel.digest() : this.hash.digest('hex');
  }

  /** After a failure: stop the hashing worker, if any. */
  async abandon(): Promise<void> {
    await this.parallel?.abandon();
  }
}

async function writePlanned(plan: Plan, tmp: string, options: IsoOptions): Promise<IsoResult> {
  const total = plan.totalBlocks * SECTOR;
  const out = await open(tmp, 'w');
  try {
    const sink = new ImageSink(out, total, options);
    let sha256: string;
    try {
      await sink.append(plan.metadata);
      for (const extent of plan.data) {
        if (options.signal?.aborted) throw new BuildError('interrupted');
        await copyExtent(extent, sink);
        await sink.appendZeros((SECTOR - (extent.size % SECTOR)) % SECTOR);
      }
      sha256 = await sink.finish();
    } catch (error) {
      await sink.abandon();
      throw error;
    }
    if (sink.position !== total) throw new Error(`wrote ${sink.position} bytes where ${total} were planned`);
    return { bytes: total, sha256 };
  } finally {
    await out.close();
  }
}

/**
 * Copies one file into the sink. Small files are read synchronously: from the page cache that
 * is a few microseconds, where each awaited round trip to the thread pool costs tens. A file
 * whose size or mtime moved since the scan is an error naming it.
 */
async function copyExtent(extent: DataExtent, sink: ImageSink): Promise<void> {
  const { node } = extent;
  const small = extent.size <= CHUNK;
  let fd: number | undefined;
  let handle: FileHandle | undefined;
  try {
    if (small) fd = openSync(node.source, 'r');
    else handle = await open(node.source, 'r');
  } catch (error) {
    throw new BuildError(`${node.source}: cannot read (${(error as Error).message})`);
  }
  try {
    let remaining = extent.size;
    while (remaining > 0) {
      const room = await sink.space();
      const length = Math.min(room.length, remaining);
      const bytesRead = fd !== undefined
        ? readSync(fd, room.bytes, room.offset, length, null)
        : (await handle!.read(room.bytes, room.offset, length, null)).bytesRead;
      if (bytesRead === 0) break;
      sink.filled(bytesRead);
      remaining -= bytesRead;
    }
    const now = fd !== undefined ? fstatSync(fd) : await handle!.stat();
    if (remaining !== 0 || now.size !== extent.size || Math.floor(now.mtimeMs / 1000) !== node.mtime) {
      throw new BuildError(`${node.source}: changed while the ISO was being written (size ${extent.size} -> ${now.size})`);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
    await handle?.close();
  }
}
