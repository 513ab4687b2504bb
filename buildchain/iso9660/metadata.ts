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
  encodeUcs2,
  paddedField,
  pathTableRecord,
  recordDate,
  volumeDate,
} from './ecma119.ts';
import {
  BYTES,
  RecordPacker,
  ceBlock,
  directoryNames,
  dotDotEntries,
  dotEntries,
  fitSystemUse,
  namedEntries,
  type CePlace,
  type Layout,
  type Named,
  type PlannedDir,
} from './layout.ts';
import * as rrip from './rockridge.ts';
import { Kind } from './tree.ts';

export interface MetadataPiece {
  block: number;
  bytes: Buffer;
}

const PAD = Buffer.alloc(1);
const APPLICATION = 'METALK8S BUILDCHAIN (TYPESCRIPT ISO 9660 WRITER)';

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
  const isoId = (dir: PlannedDir): Buffer => (dir.parent ? Buffer.from(dir.isoId, 'latin1') : Buffer.from([0]));
  const jolietId = (dir: PlannedDir): Buffer => (dir.parent ? encodeUcs2(dir.jolietId) : Buffer.from([0]));
  for (const bigEndian of [false, true]) {
    yield {
      block: bigEndian ? t.isoM : t.isoL,
      bytes: pathTable(layout.isoDirs, isoId, (d) => d.iso, t.isoSize, bigEndian),
    };
  }
  for (const bigEndian of [false, true]) {
    yield {
      block: bigEndian ? t.jolietM : t.jolietL,
      bytes: pathTable(layout.jolietDirs, jolietId, (d) => d.joliet, t.jolietSize, bigEndian),
    };
  }
  for (const dir of layout.isoDirs) yield* isoDirectory(layout, dir, subdirsOf(dir));
  for (const dir of layout.jolietDirs) yield* jolietDirectory(layout, dir, subdirsOf(dir));
}

function subdirsOf(dir: PlannedDir): Map<number, PlannedDir> {
  return new Map(dir.isoSubdirs.map((subdir) => [subdir.index, subdir]));
}

function pathTable(
  dirs: PlannedDir[],
  id: (dir: PlannedDir) => Buffer,
  place: (dir: PlannedDir) => { number: number; extent: number },
  size: number,
  bigEndian: boolean,
): Buffer {
  const table = Buffer.alloc(Math.ceil(size / SECTOR) * SECTOR);
  let offset = 0;
  for (const dir of dirs)
    offset += pathTableRecord(id(dir), place(dir).extent, place(dir.parent ?? dir).number, bigEndian).copy(
      table,
      offset,
    );
  return table;
}

/** What one entry of a directory puts in its extent: its records, and its continuation chunks. */
interface EntryBytes {
  records: Buffer[];
  /** Each chunk's offset from the start of the directory's continuation sectors. */
  chunks: { at: number; bytes: Buffer }[];
}

/**
 * The directory's ISO 9660 records with their Rock Ridge entries, then the sectors of continuation
 * chunks that follow them, in windows: a directory of thousands of names is never one buffer.
 * The chunks come after all records, so a directory that has chunks is gone through twice rather
 * than holding them until its records are out.
 */
function* isoDirectory(layout: Layout, dir: PlannedDir, subdirs: Map<number, PlannedDir>): Generator<MetadataPiece> {
  const records = new PlannedRecords(layout, dir, dir.iso.extent, dir.iso.size);
  for (const entry of isoEntries(layout, dir, subdirs)) yield* records.put(entry.records);
  yield* records.end();
  if (dir.ceSectors === 0) return;
  const chunks = new ExtentWindows(layout, dir, ceBlock(dir, { sector: 0 }), dir.ceSectors * SECTOR);
  for (const entry of isoEntries(layout, dir, subdirs))
    for (const chunk of entry.chunks) yield* chunks.put(chunk.at, chunk.bytes);
  yield* chunks.end();
}

function* isoEntries(layout: Layout, dir: PlannedDir, subdirs: Map<number, PlannedDir>): Generator<EntryBytes> {
  const dot = systemUse(layout, dir, dotEntries(BYTES, layout, dir), 1, dir.dotCe);
  const dotDot = systemUse(layout, dir, dotDotEntries(BYTES, layout, dir), 1, dir.dotDotCe);
  const [dotRecord, dotDotRecord] = dotRecords(layout, dir, (d) => d.iso, [dot.inline, dotDot.inline]);
  yield { records: [dotRecord!], chunks: dot.chunks };
  yield { records: [dotDotRecord!], chunks: dotDot.chunks };
  for (const named of directoryNames(layout.tree, dir.index).isoOrder) {
    const identifier = Buffer.from(named.iso, 'latin1');
    const su = systemUse(
      layout,
      dir,
      namedEntries(BYTES, layout, named),
      identifier.length,
      layout.ce.get(named.index),
    );
    yield {
      records: entryRecords(layout, named, identifier, su.inline, subdirs.get(named.index)?.iso),
      chunks: su.chunks,
    };
  }
}

/**
 * A record's Rock Ridge entries split as planned: the record's system use bytes, and its
 * continuation chunks (each but the last ending with a CE entry to the next).
 */
function systemUse(
  layout: Layout,
  dir: PlannedDir,
  made: { entries: Buffer[]; continued: Buffer[] },
  identifierLength: number,
  places: CePlace[] | undefined,
): { inline: Buffer; chunks: EntryBytes['chunks'] } {
  const all = [...made.entries, ...made.continued];
  const fit = fitSystemUse(
    { entries: made.entries.map((b) => b.length), continued: made.continued.map((b) => b.length) },
    identifierLength,
  );
  if (
    (places?.length ?? 0) !== fit.chunks.length ||
    fit.chunkLengths.some((length, k) => places![k]!.length !== length)
  ) {
    throw new InternalError(`directory /${layout.tree.treePath(dir.index)}: Rock Ridge entries do not fit as planned`);
  }
  const ceTo = (k: number): Buffer[] => {
    const place = places?.[k];
    return place ? [rrip.ce(ceBlock(dir, place), place.offset, place.length)] : [];
  };
  let next = fit.inline;
  const chunks = fit.chunks.map((count, k) => {
    const place = places![k]!;
    const bytes = Buffer.concat([...all.slice(next, next + count), ...ceTo(k + 1)]);
    next += count;
    return { at: place.sector * SECTOR + place.offset, bytes };
  });
  const inline = Buffer.concat([...all.slice(0, fit.inline), ...ceTo(0)]);
  return { inline: inline.length % 2 === 0 ? inline : Buffer.concat([inline, PAD]), chunks };
}

function* jolietDirectory(layout: Layout, dir: PlannedDir, subdirs: Map<number, PlannedDir>): Generator<MetadataPiece> {
  const records = new PlannedRecords(layout, dir, dir.joliet.extent, dir.joliet.size);
  yield* records.put(dotRecords(layout, dir, (d) => d.joliet, [undefined, undefined]));
  for (const named of directoryNames(layout.tree, dir.index).jolietOrder) {
    yield* records.put(
      entryRecords(layout, named, encodeUcs2(named.joliet), undefined, subdirs.get(named.index)?.joliet),
    );
  }
  yield* records.end();
}

function dotRecords(
  layout: Layout,
  dir: PlannedDir,
  place: (dir: PlannedDir) => { extent: number; size: number },
  systemUse: [Buffer | undefined, Buffer | undefined],
): Buffer[] {
  const parent = dir.parent ?? dir;
  return [
    directoryRecord({
      ...place(dir),
      date: recordDate(layout.timeOf(dir.index)),
      flags: FLAG_DIRECTORY,
      identifier: Buffer.from([0]),
      systemUse: systemUse[0],
    }),
    directoryRecord({
      ...place(parent),
      date: recordDate(layout.timeOf(parent.index)),
      flags: FLAG_DIRECTORY,
      identifier: Buffer.from([1]),
      systemUse: systemUse[1],
    }),
  ];
}

/**
 * The records of one name: a directory's (`place`: its extent in this name space), or a file's,
 * one per extent of at most MAX_EXTENT bytes.
 */
function entryRecords(
  layout: Layout,
  named: Named,
  identifier: Buffer,
  systemUse: Buffer | undefined,
  place: { extent: number; size: number } | undefined,
): Buffer[] {
  const { tree } = layout;
  const date = recordDate(layout.timeOf(named.index));
  if (tree.kind(named.index) === Kind.Directory) {
    return [
      directoryRecord({ extent: place!.extent, size: place!.size, date, flags: FLAG_DIRECTORY, identifier, systemUse }),
    ];
  }
  const size = tree.size(named.index);
  const records: Buffer[] = [];
  for (let p = 0, remaining = size; p === 0 || remaining > 0; p++) {
    const part = Math.min(remaining, MAX_EXTENT);
    remaining -= part;
    const extent = part === 0 ? 0 : layout.dataExtent[named.index]! + (p * MAX_EXTENT) / SECTOR;
    records.push(
      directoryRecord({
        extent,
        size: part,
        date,
        flags: remaining > 0 ? FLAG_MULTI_EXTENT : 0,
        identifier,
        systemUse,
      }),
    );
  }
  return records;
}

/** Bytes of a directory's extent in flight at most: 32 sectors. */
const WINDOW = 32 * SECTOR;

/**
 * A planned extent of a directory, yielded in windows of whole sectors as its bytes are put in
 * order. Nothing put crosses a sector, so it always fits in the current window.
 */
class ExtentWindows {
  private window: Buffer;
  private base = 0;
  constructor(
    private readonly layout: Layout,
    private readonly dir: PlannedDir,
    private readonly block: number,
    private readonly planned: number,
  ) {
    this.window = Buffer.alloc(Math.min(WINDOW, planned));
  }

  *put(at: number, bytes: Buffer): Generator<MetadataPiece> {
    if (at + bytes.length > this.planned) this.fail(`more than the ${this.planned} bytes planned`);
    if (at < this.base || (at % SECTOR) + bytes.length > SECTOR) this.fail(`bytes at ${at} out of their place`);
    while (at >= this.base + WINDOW) yield this.emit();
    bytes.copy(this.window, at - this.base);
  }

  *end(): Generator<MetadataPiece> {
    while (this.base < this.planned) yield this.emit();
  }

  fail(what: string): never {
    throw new InternalError(`directory /${this.layout.tree.treePath(this.dir.index)}: ${what}`);
  }

  /** The current window as a piece, handed over: the next window is a new buffer. */
  private emit(): MetadataPiece {
    const piece = { block: this.block + this.base / SECTOR, bytes: this.window };
    this.base += this.window.length;
    this.window = Buffer.alloc(Math.min(WINDOW, this.planned - this.base));
    return piece;
  }
}

/** Records packed into a directory's extent as they are made; the size planned must be the size written. */
class PlannedRecords {
  private readonly packer = new RecordPacker();
  private readonly windows: ExtentWindows;
  constructor(
    layout: Layout,
    dir: PlannedDir,
    block: number,
    private readonly planned: number,
  ) {
    this.windows = new ExtentWindows(layout, dir, block, planned);
  }

  *put(records: Buffer[]): Generator<MetadataPiece> {
    for (const record of records) yield* this.windows.put(this.packer.place(record.length), record);
  }

  *end(): Generator<MetadataPiece> {
    if (this.packer.size !== this.planned)
      this.windows.fail(`planned ${this.planned} bytes of records, wrote ${this.packer.size}`);
    yield* this.windows.end();
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
