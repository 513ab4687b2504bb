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
  for (const dir of layout.isoDirs) yield { block: dir.iso.extent, bytes: isoDirectory(layout, dir, subdirsOf(dir)) };
  for (const dir of layout.jolietDirs)
    yield { block: dir.joliet.extent, bytes: jolietDirectory(layout, dir, subdirsOf(dir)) };
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

/** The directory's ISO 9660 records with their Rock Ridge entries, and the sectors of continuation chunks that follow. */
function isoDirectory(layout: Layout, dir: PlannedDir, subdirs: Map<number, PlannedDir>): Buffer {
  const out = Buffer.alloc(dir.iso.size + dir.ceSectors * SECTOR);
  // The record's system use bytes; its continuation chunks are copied where the plan placed them,
  // in the sectors right after the records.
  const systemUse = (
    made: { entries: Buffer[]; continued: Buffer[] },
    identifierLength: number,
    places: CePlace[] | undefined,
  ): Buffer => {
    const all = [...made.entries, ...made.continued];
    const fit = fitSystemUse(
      { entries: made.entries.map((b) => b.length), continued: made.continued.map((b) => b.length) },
      identifierLength,
    );
    if (
      (places?.length ?? 0) !== fit.chunks.length ||
      fit.chunkLengths.some((length, k) => places![k]!.length !== length)
    ) {
      throw new InternalError(
        `directory /${layout.tree.treePath(dir.index)}: Rock Ridge entries do not fit as planned`,
      );
    }
    const ceTo = (k: number): Buffer[] => {
      const place = places?.[k];
      return place ? [rrip.ce(ceBlock(dir, place), place.offset, place.length)] : [];
    };
    let next = fit.inline;
    fit.chunks.forEach((count, k) => {
      const place = places![k]!;
      Buffer.concat([...all.slice(next, next + count), ...ceTo(k + 1)]).copy(
        out,
        dir.iso.size + place.sector * SECTOR + place.offset,
      );
      next += count;
    });
    const bytes = Buffer.concat([...all.slice(0, fit.inline), ...ceTo(0)]);
    return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, PAD]);
  };
  const records = new RecordsInto(layout, out, dir, dir.iso.size);
  records.put(
    dotRecords(layout, dir, (d) => d.iso, [
      systemUse(dotEntries(BYTES, layout, dir), 1, dir.dotCe),
      systemUse(dotDotEntries(BYTES, layout, dir), 1, dir.dotDotCe),
    ]),
  );
  for (const named of directoryNames(layout.tree, dir.index).isoOrder) {
    const su = systemUse(
      namedEntries(BYTES, layout, named),
      Buffer.byteLength(named.iso, 'latin1'),
      layout.ce.get(named.index),
    );
    records.put(entryRecords(layout, named, Buffer.from(named.iso, 'latin1'), su, subdirs.get(named.index)?.iso));
  }
  records.end();
  return out;
}

function jolietDirectory(layout: Layout, dir: PlannedDir, subdirs: Map<number, PlannedDir>): Buffer {
  const out = Buffer.alloc(dir.joliet.size);
  const records = new RecordsInto(layout, out, dir, dir.joliet.size);
  records.put(dotRecords(layout, dir, (d) => d.joliet, [undefined, undefined]));
  for (const named of directoryNames(layout.tree, dir.index).jolietOrder) {
    records.put(entryRecords(layout, named, encodeUcs2(named.joliet), undefined, subdirs.get(named.index)?.joliet));
  }
  records.end();
  return out;
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

/** Records packed into a directory's extent as they are made; the size planned must be the size written. */
class RecordsInto {
  private readonly packer = new RecordPacker();
  constructor(
    private readonly layout: Layout,
    private readonly out: Buffer,
    private readonly dir: PlannedDir,
    private readonly planned: number,
  ) {}

  put(records: Buffer[]): void {
    for (const record of records) {
      const at = this.packer.place(record.length);
      if (at + record.length > this.planned) this.fail(`more than the ${this.planned} bytes of records planned`);
      record.copy(this.out, at);
    }
  }

  end(): void {
    if (this.packer.size !== this.planned)
      this.fail(`planned ${this.planned} bytes of records, wrote ${this.packer.size}`);
  }

  private fail(what: string): never {
    throw new InternalError(`directory /${this.layout.tree.treePath(this.dir.index)}: ${what}`);
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
