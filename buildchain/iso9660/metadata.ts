// The metadata of a planned ISO, serialized piece by piece in block order: system area, volume
// descriptors, path tables, then each directory's records (ISO 9660 with Rock Ridge, followed by
// its continuation chunks; then Joliet). Each piece says the block it was planned at, so the
// writer can check that what it writes lands where the plan put it.
import { InternalError } from '../errors.ts';
import {
  FIRST_DESCRIPTOR,
  FLAG_DIRECTORY,
  FLAG_MULTI_EXTENT,
  MAX_EXTENT,
  SECTOR,
  bothEndian16,
  bothEndian32,
  directoryRecord,
  paddedField,
  putBoth32,
  putRecordDate,
  recordBaseLength,
  recordDate,
  volumeDate,
} from './ecma119.ts';
import {
  RecordPacker,
  ceBlock,
  dotDotSystemUse,
  dotSystemUse,
  fitSystemUse,
  namedSystemUse,
  namesOf,
  recordLength,
  type CePlace,
  type Layout,
  type PlannedDir,
  type SystemUseFit,
} from './layout.ts';
import * as rrip from './rockridge.ts';

export interface MetadataPiece {
  block: number;
  bytes: Buffer;
}

const APPLICATION = 'METALK8S BUILDCHAIN (TYPESCRIPT ISO 9660 WRITER)';

// Every record and path table entry is written in place, byte by byte, into the window or table
// it belongs to: no Buffer per record, field or Rock Ridge entry (a small tree is written before
// Node's compilers warm up, where each of those allocations and copies costs microseconds).

export function* metadataPieces(layout: Layout, volumeId: string): Generator<MetadataPiece> {
  yield { block: 0, bytes: Buffer.alloc(FIRST_DESCRIPTOR * SECTOR) };
  const descriptors = Buffer.alloc(3 * SECTOR);
  descriptor(layout, volumeId, false).copy(descriptors, 0);
  descriptor(layout, volumeId, true).copy(descriptors, SECTOR);
  descriptors[2 * SECTOR] = 255;
  descriptors.write('CD001', 2 * SECTOR + 1, 'latin1');
  descriptors[2 * SECTOR + 6] = 1;
  yield { block: FIRST_DESCRIPTOR, bytes: descriptors };

  const { pathTables: t } = layout;
  for (const bigEndian of [false, true])
    yield { block: bigEndian ? t.isoM : t.isoL, bytes: pathTable(layout.isoDirs, false, t.isoSize, bigEndian) };
  for (const bigEndian of [false, true])
    yield {
      block: bigEndian ? t.jolietM : t.jolietL,
      bytes: pathTable(layout.jolietDirs, true, t.jolietSize, bigEndian),
    };
  const su = new rrip.SystemUse();
  for (const dir of layout.isoDirs) yield* isoDirectory(layout, dir, su);
  for (const dir of layout.jolietDirs) yield* jolietDirectory(layout, dir);
}

function subdirsOf(dir: PlannedDir): Map<number, PlannedDir> {
  return new Map(dir.isoSubdirs.map((subdir) => [subdir.index, subdir]));
}

/** Puts a Joliet identifier (UCS-2, big-endian) at `offset`. */
function putUcs2(buf: Buffer, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    buf[offset + 2 * i] = code >>> 8;
    buf[offset + 2 * i + 1] = code;
  }
}

function pathTable(dirs: PlannedDir[], joliet: boolean, size: number, bigEndian: boolean): Buffer {
  const table = Buffer.alloc(Math.ceil(size / SECTOR) * SECTOR);
  let offset = 0;
  for (const dir of dirs) {
    const place = joliet ? dir.joliet : dir.iso;
    const parent = joliet ? (dir.parent ?? dir).joliet : (dir.parent ?? dir).iso;
    const id = joliet ? dir.jolietId : dir.isoId;
    const idLength = dir.parent ? (joliet ? 2 * id.length : id.length) : 1;
    table[offset] = idLength;
    if (bigEndian) {
      table.writeUInt32BE(place.extent, offset + 2);
      table.writeUInt16BE(parent.number, offset + 6);
    } else {
      table.writeUInt32LE(place.extent, offset + 2);
      table.writeUInt16LE(parent.number, offset + 6);
    }
    if (!dir.parent) table[offset + 8] = 0;
    else if (joliet) putUcs2(table, offset + 8, id);
    else table.write(id, offset + 8, 'latin1');
    offset += 8 + idLength + (idLength % 2);
  }
  return table;
}

/**
 * Puts a directory record's fields before its identifier at `offset` (the bytes directoryRecord()
 * makes); returns the offset of the identifier.
 */
function putRecord(
  buf: Buffer,
  offset: number,
  length: number,
  extent: number,
  size: number,
  seconds: number,
  flags: number,
  idLength: number,
): number {
  buf[offset] = length;
  buf[offset + 1] = 0;
  putBoth32(buf, offset + 2, extent);
  putBoth32(buf, offset + 10, size);
  putRecordDate(buf, offset + 18, seconds);
  buf[offset + 25] = flags;
  buf[offset + 26] = 0;
  buf[offset + 27] = 0;
  buf[offset + 28] = 1; // volume sequence number 1, both-endian
  buf[offset + 29] = 0;
  buf[offset + 30] = 0;
  buf[offset + 31] = 1;
  buf[offset + 32] = idLength;
  return offset + 33;
}

/** Puts a CE entry pointing at a continuation chunk. */
function putCe(buf: Buffer, offset: number, dir: PlannedDir, place: CePlace): void {
  buf[offset] = 0x43;
  buf[offset + 1] = 0x45;
  buf[offset + 2] = rrip.CE_LENGTH;
  buf[offset + 3] = 1;
  putBoth32(buf, offset + 4, ceBlock(dir, place));
  putBoth32(buf, offset + 12, place.offset);
  putBoth32(buf, offset + 20, place.length);
}

/** The split of a record's Rock Ridge entries, which must be the one planned. */
function plannedFit(
  layout: Layout,
  dir: PlannedDir,
  su: rrip.SystemUse,
  identifierLength: number,
  places: CePlace[] | undefined,
): SystemUseFit {
  const fit = fitSystemUse(su, identifierLength);
  if (
    (places?.length ?? 0) !== fit.chunks.length ||
    fit.chunkLengths.some((length, k) => places![k]!.length !== length)
  ) {
    throw new InternalError(`directory /${layout.tree.treePath(dir.index)}: Rock Ridge entries do not fit as planned`);
  }
  return fit;
}

/** Puts the record's own Rock Ridge entries (and the CE entry to its first chunk) at `offset`. */
function putInline(
  buf: Buffer,
  offset: number,
  dir: PlannedDir,
  su: rrip.SystemUse,
  fit: SystemUseFit,
  places: CePlace[] | undefined,
): void {
  su.bytes.copy(buf, offset, 0, fit.inlineLength);
  if (fit.chunks.length > 0) putCe(buf, offset + fit.inlineLength, dir, places![0]!);
}

/** Puts the record's continuation chunks, each but the last ending with a CE entry to the next. */
function* putChunks(
  windows: ExtentWindows,
  dir: PlannedDir,
  su: rrip.SystemUse,
  fit: SystemUseFit,
  places: CePlace[] | undefined,
): Generator<MetadataPiece> {
  let next = fit.inline;
  for (let k = 0; k < fit.chunks.length; k++) {
    const place = places![k]!;
    const start = next === 0 ? 0 : su.ends[next - 1]!;
    next += fit.chunks[k]!;
    const end = su.ends[next - 1]!;
    const at = place.sector * SECTOR + place.offset;
    let offset: number;
    while ((offset = windows.offsetOf(at, place.length)) < 0) yield windows.emit();
    su.bytes.copy(windows.window, offset, start, end);
    if (k + 1 < fit.chunks.length) putCe(windows.window, offset + end - start, dir, places![k + 1]!);
  }
}

/**
 * The directory's ISO 9660 records with their Rock Ridge entries, then the sectors of continuation
 * chunks that follow them, in windows: a directory of thousands of names is never one buffer.
 * The chunks come after all records, so a directory that has chunks is gone through twice rather
 * than holding them until its records are out.
 */
function* isoDirectory(layout: Layout, dir: PlannedDir, su: rrip.SystemUse): Generator<MetadataPiece> {
  const { tree } = layout;
  const subdirs = subdirsOf(dir);
  const records = new ExtentWindows(layout, dir, dir.iso.extent, dir.iso.size);
  const packer = new RecordPacker();
  const parent = dir.parent ?? dir;
  for (let dot = 0; dot < 2; dot++) {
    const places = dot === 0 ? dir.dotCe : dir.dotDotCe;
    const fit = plannedFit(
      layout,
      dir,
      dot === 0 ? dotSystemUse(su, layout, dir) : dotDotSystemUse(su, layout, dir),
      1,
      places,
    );
    const length = recordLength(1, fit);
    const at = packer.place(length);
    let offset: number;
    while ((offset = records.offsetOf(at, length)) < 0) yield records.emit();
    const of = dot === 0 ? dir : parent;
    const id = putRecord(
      records.window,
      offset,
      length,
      of.iso.extent,
      of.iso.size,
      layout.timeOf(of.index),
      FLAG_DIRECTORY,
      1,
    );
    records.window[id] = dot;
    putInline(records.window, id + 1, dir, su, fit, places);
  }
  const names = namesOf(layout, dir.index).isoOrder;
  for (const named of names) {
    const places = layout.ce.get(named.index);
    const idLength = named.iso.length;
    const fit = plannedFit(layout, dir, namedSystemUse(su, layout, named.index), idLength, places);
    const length = recordLength(idLength, fit);
    const seconds = layout.timeOf(named.index);
    const subdir = subdirs.get(named.index);
    const size = subdir ? 0 : tree.size(named.index);
    // A file: one record per extent of at most MAX_EXTENT bytes; anything else: one record.
    for (let p = 0, remaining = size; p === 0 || remaining > 0; p++) {
      const part = Math.min(remaining, MAX_EXTENT);
      remaining -= part;
      const at = packer.place(length);
      let offset: number;
      while ((offset = records.offsetOf(at, length)) < 0) yield records.emit();
      const id = subdir
        ? putRecord(
            records.window,
            offset,
            length,
            subdir.iso.extent,
            subdir.iso.size,
            seconds,
            FLAG_DIRECTORY,
            idLength,
          )
        : putRecord(
            records.window,
            offset,
            length,
            part === 0 ? 0 : layout.dataExtent[named.index]! + (p * MAX_EXTENT) / SECTOR,
            part,
            seconds,
            remaining > 0 ? FLAG_MULTI_EXTENT : 0,
            idLength,
          );
      records.window.write(named.iso, id, 'latin1');
      putInline(records.window, recordBaseLength(idLength) + offset, dir, su, fit, places);
    }
  }
  if (packer.size !== dir.iso.size) records.fail(`planned ${dir.iso.size} bytes of records, wrote ${packer.size}`);
  yield* records.end();
  if (dir.ceSectors === 0) return;
  const chunks = new ExtentWindows(layout, dir, ceBlock(dir, { sector: 0 }), dir.ceSectors * SECTOR);
  if (dir.dotCe) yield* putChunks(chunks, dir, dotSystemUse(su, layout, dir), fitSystemUse(su, 1), dir.dotCe);
  if (dir.dotDotCe) yield* putChunks(chunks, dir, dotDotSystemUse(su, layout, dir), fitSystemUse(su, 1), dir.dotDotCe);
  for (const named of names) {
    const places = layout.ce.get(named.index);
    if (!places) continue;
    namedSystemUse(su, layout, named.index);
    yield* putChunks(chunks, dir, su, fitSystemUse(su, named.iso.length), places);
  }
  yield* chunks.end();
}

function* jolietDirectory(layout: Layout, dir: PlannedDir): Generator<MetadataPiece> {
  const { tree } = layout;
  const subdirs = subdirsOf(dir);
  const records = new ExtentWindows(layout, dir, dir.joliet.extent, dir.joliet.size);
  const packer = new RecordPacker();
  const parent = dir.parent ?? dir;
  for (let dot = 0; dot < 2; dot++) {
    const at = packer.place(34);
    let offset: number;
    while ((offset = records.offsetOf(at, 34)) < 0) yield records.emit();
    const of = dot === 0 ? dir : parent;
    const id = putRecord(
      records.window,
      offset,
      34,
      of.joliet.extent,
      of.joliet.size,
      layout.timeOf(of.index),
      FLAG_DIRECTORY,
      1,
    );
    records.window[id] = dot;
  }
  for (const named of namesOf(layout, dir.index).jolietOrder) {
    const idLength = 2 * named.joliet.length;
    const length = recordBaseLength(idLength);
    const seconds = layout.timeOf(named.index);
    const subdir = subdirs.get(named.index);
    const size = subdir ? 0 : tree.size(named.index);
    for (let p = 0, remaining = size; p === 0 || remaining > 0; p++) {
      const part = Math.min(remaining, MAX_EXTENT);
      remaining -= part;
      const at = packer.place(length);
      let offset: number;
      while ((offset = records.offsetOf(at, length)) < 0) yield records.emit();
      const id = subdir
        ? putRecord(
            records.window,
            offset,
            length,
            subdir.joliet.extent,
            subdir.joliet.size,
            seconds,
            FLAG_DIRECTORY,
            idLength,
          )
        : putRecord(
            records.window,
            offset,
            length,
            part === 0 ? 0 : layout.dataExtent[named.index]! + (p * MAX_EXTENT) / SECTOR,
            part,
            seconds,
            remaining > 0 ? FLAG_MULTI_EXTENT : 0,
            idLength,
          );
      putUcs2(records.window, id, named.joliet);
    }
  }
  if (packer.size !== dir.joliet.size)
    records.fail(`planned ${dir.joliet.size} bytes of records, wrote ${packer.size}`);
  yield* records.end();
}

/** Bytes of a directory's extent in flight at most: 32 sectors. */
const WINDOW = 32 * SECTOR;

/**
 * A planned extent of a directory, handed over in windows of whole sectors as its bytes are put
 * in order. Nothing put crosses a sector, so it always fits in the current window.
 */
class ExtentWindows {
  window: Buffer;
  private base = 0;
  constructor(
    private readonly layout: Layout,
    private readonly dir: PlannedDir,
    private readonly block: number,
    private readonly planned: number,
  ) {
    this.window = Buffer.alloc(Math.min(WINDOW, planned));
  }

  /** Where `length` bytes at `at` of the extent go in the window; -1: emit the window first. */
  offsetOf(at: number, length: number): number {
    if (at + length > this.planned) this.fail(`more than the ${this.planned} bytes planned`);
    if (at < this.base || (at % SECTOR) + length > SECTOR) this.fail(`bytes at ${at} out of their place`);
    return at >= this.base + WINDOW ? -1 : at - this.base;
  }

  *end(): Generator<MetadataPiece> {
    while (this.base < this.planned) yield this.emit();
  }

  fail(what: string): never {
    throw new InternalError(`directory /${this.layout.tree.treePath(this.dir.index)}: ${what}`);
  }

  /** The current window as a piece, handed over: the next window is a new buffer. */
  emit(): MetadataPiece {
    const piece = { block: this.block + this.base / SECTOR, bytes: this.window };
    this.base += this.window.length;
    this.window = Buffer.alloc(Math.min(WINDOW, this.planned - this.base));
    return piece;
  }
}

function descriptor(layout: Layout, volumeId: string, joliet: boolean): Buffer {
  const t = layout.pathTables;
  const d = Buffer.alloc(SECTOR);
  d[0] = joliet ? 2 : 1;
  d.write('CD001', 1, 'latin1');
  d[6] = 1;
  paddedField('LINUX', 32, joliet).copy(d, 8);
  paddedField(volumeId, 32, joliet).copy(d, 40);
  bothEndian32(d, 80, layout.totalBlocks);
  if (joliet) d.write('%/E', 88, 'latin1'); // Joliet, UCS-2 level 3
  bothEndian16(d, 120, 1);
  bothEndian16(d, 124, 1);
  bothEndian16(d, 128, SECTOR);
  bothEndian32(d, 132, joliet ? t.jolietSize : t.isoSize);
  d.writeUInt32LE(joliet ? t.jolietL : t.isoL, 140);
  d.writeUInt32BE(joliet ? t.jolietM : t.isoM, 148);
  const root = layout.root;
  const place = joliet ? root.joliet : root.iso;
  directoryRecord({
    extent: place.extent,
    size: place.size,
    date: recordDate(layout.timeOf(root.index)),
    flags: FLAG_DIRECTORY,
    identifier: Buffer.from([0]),
  }).copy(d, 156);
  for (const [offset, length] of [
    [190, 128],
    [318, 128],
    [446, 128],
  ] as const)
    paddedField('', length, joliet).copy(d, offset);
  paddedField(APPLICATION, 128, joliet).copy(d, 574);
  for (const [offset, length] of [
    [702, 37],
    [739, 37],
    [776, 37],
  ] as const)
    paddedField('', length, joliet).copy(d, offset);
  volumeDate(layout.volumeTime).copy(d, 813);
  volumeDate(layout.volumeTime).copy(d, 830);
  volumeDate(undefined).copy(d, 847);
  volumeDate(layout.volumeTime).copy(d, 864);
  d[881] = 1;
  return d;
}
