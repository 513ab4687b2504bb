// Layout planning of an ISO 9660 + Rock Ridge + Joliet image: every directory extent with its
// size, every Rock Ridge continuation area and every file's data extent, from the tree's
// metadata only. Nothing here holds the image's bytes, nor a name's identifiers: those are
// computed for one directory at a time (directoryNames), when planning and again when writing
// (metadata.ts), with the same functions and in the same record order, so memory grows with the
// number of directories, not with the records. The writer checks every piece lands where the
// plan put it.
import { BuildError } from '../errors.ts';
import { FIRST_DESCRIPTOR, MAX_EXTENT, MAX_RECORD, SECTOR, recordBaseLength, sectorsFor } from './ecma119.ts';
import { IdentifierAssigner, compareIso, compareJoliet } from './names.ts';
import * as rrip from './rockridge.ts';
import { Kind, type SourceTree } from './tree.ts';

/**
 * Where one Rock Ridge continuation chunk lives: a sector counted from the first one after the
 * directory's records (so the plan stays valid until extents are allocated), offset, length.
 */
export interface CePlace {
  sector: number;
  offset: number;
  length: number;
}

/** One child of a directory with its identifiers. */
export interface Named {
  index: number;
  /** ISO 9660 identifier (files with `;1`) and Joliet identifier. */
  iso: string;
  joliet: string;
}

export interface PlannedDir {
  index: number;
  parent: PlannedDir | undefined;
  /** Its identifiers in its parent ('' for the root). */
  isoId: string;
  jolietId: string;
  /** Subdirectories in each name space's order: the path tables' order. */
  isoSubdirs: PlannedDir[];
  jolietSubdirs: PlannedDir[];
  iso: { number: number; extent: number; size: number };
  joliet: { number: number; extent: number; size: number };
  /** Continuation chunks of the "." and ".." records' Rock Ridge entries. */
  dotCe: CePlace[] | undefined;
  dotDotCe: CePlace[] | undefined;
  /** Sectors of continuation chunks right after the ISO 9660 extent. */
  ceSectors: number;
}

export interface Layout {
  tree: SourceTree;
  root: PlannedDir;
  /** Directories in path table order, per name space. */
  isoDirs: PlannedDir[];
  jolietDirs: PlannedDir[];
  pathTables: { isoSize: number; jolietSize: number; isoL: number; isoM: number; jolietL: number; jolietM: number };
  /** First block of each file's data (shared by hard links); 0 for empty files and non-files. */
  dataExtent: Uint32Array;
  /** Continuation chunks of the entries whose Rock Ridge entries do not fit in their record. */
  ce: Map<number, CePlace[]>;
  /** Blocks before the first file's data. */
  metadataBlocks: number;
  totalBlocks: number;
  /** Seconds recorded for an entry (clamped to SOURCE_DATE_EPOCH) and for the volume. */
  timeOf: (index: number) => number;
  volumeTime: number;
  /** How many names each hard-linked inode has in the tree. */
  linkCounts: Map<string, number>;
  /** Each directory's names as planned, kept for the writer in trees of at most KEEP_NAMES_UP_TO names. */
  names: Map<number, DirectoryNames> | undefined;
}

export interface DirectoryNames {
  isoOrder: Named[];
  jolietOrder: Named[];
}

/**
 * Trees up to this many names keep each directory's identifiers from planning to writing (about
 * 100 bytes a name, 1.6 MiB at most) rather than deriving them twice more (ISO 9660 records,
 * Joliet records): what a small tree's run is made of. Larger trees derive them again, so that
 * their memory grows with directories, not names.
 */
const KEEP_NAMES_UP_TO = 16_384;

/** A directory's names as planned: kept ones, or derived again. */
export function namesOf(layout: Layout, dir: number): DirectoryNames {
  return layout.names?.get(dir) ?? directoryNames(layout.tree, dir);
}

/** ISO 9660 path tables number directories, and name each one's parent, in 16 bits. */
const MAX_DIRECTORIES = 0xffff;

/** A directory's children with their identifiers, in ISO 9660 and in Joliet record order. */
export function directoryNames(tree: SourceTree, dir: number): DirectoryNames {
  const { first, count } = tree.children(dir);
  const ids = new IdentifierAssigner();
  const named: Named[] = [];
  for (let index = first; index < first + count; index++) {
    const name = tree.names[index]!;
    named.push({ index, iso: ids.iso(name, tree.kind(index) === Kind.Directory), joliet: ids.joliet(name) });
  }
  return {
    isoOrder: [...named].sort((a, b) => compareIso(a.iso, b.iso)),
    jolietOrder: named.sort((a, b) => compareJoliet(a.joliet, b.joliet)),
  };
}

/** The latest modification time in the tree (seconds), 0 for none. */
function newestMtime(tree: SourceTree): number {
  let newest = 0;
  for (let i = 0; i < tree.count; i++) newest = Math.max(newest, tree.mtime(i));
  return newest;
}

export function planLayout(tree: SourceTree, options: { sourceDateEpoch?: number | undefined }): Layout {
  const epoch = options.sourceDateEpoch;
  const linkCounts = new Map<string, number>();
  for (const key of tree.linkKeys.values()) linkCounts.set(key, (linkCounts.get(key) ?? 0) + 1);
  const layout: Layout = {
    tree,
    root: undefined as unknown as PlannedDir,
    isoDirs: [],
    jolietDirs: [],
    pathTables: { isoSize: 0, jolietSize: 0, isoL: 0, isoM: 0, jolietL: 0, jolietM: 0 },
    dataExtent: new Uint32Array(tree.count),
    ce: new Map(),
    metadataBlocks: 0,
    totalBlocks: 0,
    timeOf: (i) => (epoch === undefined ? tree.mtime(i) : Math.min(tree.mtime(i), epoch)),
    // Without SOURCE_DATE_EPOCH the volume dates are the tree's newest mtime, not the clock:
    // the same tree gives the same bytes.
    volumeTime: epoch ?? newestMtime(tree),
    linkCounts,
    names: tree.count <= KEEP_NAMES_UP_TO ? new Map() : undefined,
  };

  let directories = 0;
  const su = new rrip.SystemUse();
  const makeDir = (index: number, parent: PlannedDir | undefined, isoId: string, jolietId: string): PlannedDir => {
    if (++directories > MAX_DIRECTORIES)
      throw new BuildError(
        `${tree.names[0]}: more than ${MAX_DIRECTORIES} directories, more than ISO 9660 path tables can number`,
      );
    const dir: PlannedDir = {
      index,
      parent,
      isoId,
      jolietId,
      isoSubdirs: [],
      jolietSubdirs: [],
      iso: { number: 0, extent: 0, size: 0 },
      joliet: { number: 0, extent: 0, size: 0 },
      dotCe: undefined,
      dotDotCe: undefined,
      ceSectors: 0,
    };
    const names = directoryNames(tree, index);
    layout.names?.set(index, names);
    const { isoOrder, jolietOrder } = names;

    // The extents' sizes, from the records' lengths in the order they are written; continuation
    // chunks packed into the sectors that follow the records, in the same order.
    const dotFit = fitSystemUse(dotSystemUse(su, layout, dir), 1);
    const dotDotFit = fitSystemUse(dotDotSystemUse(su, layout, dir), 1);
    const records = new RecordPacker();
    records.place(recordLength(1, dotFit));
    records.place(recordLength(1, dotDotFit));
    let offset = SECTOR;
    const place = (fit: SystemUseFit): CePlace[] | undefined => {
      if (fit.chunks.length === 0) return undefined;
      return fit.chunkLengths.map((length) => {
        if (offset + length > SECTOR) {
          dir.ceSectors++;
          offset = 0;
        }
        const at = { sector: dir.ceSectors - 1, offset, length };
        offset += length;
        return at;
      });
    };
    dir.dotCe = place(dotFit);
    dir.dotDotCe = place(dotDotFit);
    for (const named of isoOrder) {
      // ISO 9660 identifiers are d-characters, '.', ';' and '1': one byte per character.
      const fit = fitSystemUse(namedSystemUse(su, layout, named.index), named.iso.length);
      const length = recordLength(named.iso.length, fit);
      for (let p = 0; p < extentCount(tree, named.index); p++) records.place(length);
      const ce = place(fit);
      if (ce) layout.ce.set(named.index, ce);
    }
    dir.iso.size = records.size;
    const jolietRecords = new RecordPacker();
    jolietRecords.place(34);
    jolietRecords.place(34);
    for (const named of jolietOrder) {
      const length = recordBaseLength(named.joliet.length * 2);
      for (let p = 0; p < extentCount(tree, named.index); p++) jolietRecords.place(length);
    }
    dir.joliet.size = jolietRecords.size;

    const subdirs = new Map<number, PlannedDir>();
    for (const named of isoOrder) {
      if (tree.kind(named.index) !== Kind.Directory) continue;
      const child = makeDir(named.index, dir, named.iso, named.joliet);
      subdirs.set(named.index, child);
      dir.isoSubdirs.push(child);
    }
    dir.jolietSubdirs = jolietOrder
      .filter((named) => subdirs.has(named.index))
      .map((named) => subdirs.get(named.index)!);
    return dir;
  };
  const root = (layout.root = makeDir(0, undefined, '', ''));

  // Path table order: level by level, subdirectories in identifier order.
  const order = (subdirs: (dir: PlannedDir) => PlannedDir[]): PlannedDir[] => {
    const dirs = [root];
    for (let i = 0; i < dirs.length; i++) dirs.push(...subdirs(dirs[i]!));
    return dirs;
  };
  layout.isoDirs = order((dir) => dir.isoSubdirs);
  layout.jolietDirs = order((dir) => dir.jolietSubdirs);
  layout.isoDirs.forEach((dir, i) => (dir.iso.number = i + 1));
  layout.jolietDirs.forEach((dir, i) => (dir.joliet.number = i + 1));

  const pathTableSize = (dirs: PlannedDir[], idLength: (dir: PlannedDir) => number): number =>
    dirs.reduce((sum, dir) => sum + 8 + idLength(dir) + (idLength(dir) % 2), 0);
  const tables = layout.pathTables;
  tables.isoSize = pathTableSize(layout.isoDirs, (dir) => (dir.parent ? dir.isoId.length : 1));
  tables.jolietSize = pathTableSize(layout.jolietDirs, (dir) => (dir.parent ? dir.jolietId.length * 2 : 1));

  // Block allocation, front to back.
  let next = FIRST_DESCRIPTOR + 3; // primary, Joliet supplementary, terminator
  const take = (sectors: number): number => {
    const at = next;
    next += sectors;
    return at;
  };
  tables.isoL = take(sectorsFor(tables.isoSize));
  tables.isoM = take(sectorsFor(tables.isoSize));
  tables.jolietL = take(sectorsFor(tables.jolietSize));
  tables.jolietM = take(sectorsFor(tables.jolietSize));
  // Continuation chunks right after the directory whose records point to them: libarchive reads
  // an image as a forward stream and only looks for them there.
  for (const dir of layout.isoDirs) {
    dir.iso.extent = take(dir.iso.size / SECTOR);
    take(dir.ceSectors);
  }
  for (const dir of layout.jolietDirs) dir.joliet.extent = take(dir.joliet.size / SECTOR);
  layout.metadataBlocks = next;

  // File data in entry order (the order the writer copies it); a hard-linked inode once.
  const byInode = new Map<string, number>();
  for (let i = 0; i < tree.count; i++) {
    if (tree.kind(i) !== Kind.File || tree.size(i) === 0) continue;
    const key = tree.linkKeys.get(i);
    const shared = key === undefined ? undefined : byInode.get(key);
    layout.dataExtent[i] = shared ?? take(sectorsFor(tree.size(i)));
    if (key !== undefined && shared === undefined) byInode.set(key, layout.dataExtent[i]!);
  }
  layout.totalBlocks = next;
  return layout;
}

/** The block a continuation chunk of `dir`'s records was placed at. */
export function ceBlock(dir: PlannedDir, place: Pick<CePlace, 'sector'>): number {
  return dir.iso.extent + dir.iso.size / SECTOR + place.sector;
}

/** Directory records an entry needs: a file one per extent of at most MAX_EXTENT bytes. */
function extentCount(tree: SourceTree, index: number): number {
  return tree.kind(index) === Kind.File ? Math.max(1, Math.ceil(tree.size(index) / MAX_EXTENT)) : 1;
}

/**
 * Where each directory record goes: records are packed in order and never cross a sector
 * boundary (ECMA-119 6.8.1.1). One packer for planning and for writing, so the two cannot
 * disagree; it keeps no list, so a directory of 20,000 records costs nothing to plan.
 */
export class RecordPacker {
  private offset = 0;

  /** The offset of the next record, of `length` bytes. */
  place(length: number): number {
    if ((this.offset % SECTOR) + length > SECTOR) this.offset += SECTOR - (this.offset % SECTOR);
    const at = this.offset;
    this.offset += length;
    return at;
  }

  /** The extent's size, in whole sectors. */
  get size(): number {
    return Math.max(1, sectorsFor(this.offset)) * SECTOR;
  }
}

/**
 * How a record's Rock Ridge entries are split: the first `inline` in the record (with a CE entry
 * after them when there are chunks), then `chunks[k]` entries in continuation chunk k, whose
 * bytes (with its own trailing CE entry, but for the last) are `chunkLengths[k]`.
 */
export interface SystemUseFit {
  inline: number;
  inlineLength: number;
  chunks: readonly number[];
  chunkLengths: readonly number[];
}

/** Bytes of a record with the identifier and the part of its Rock Ridge entries that `fit` puts in it. */
export function recordLength(identifierLength: number, fit: SystemUseFit): number {
  const length = recordBaseLength(identifierLength) + fit.inlineLength + (fit.chunks.length > 0 ? rrip.CE_LENGTH : 0);
  return length + (length % 2);
}

const dirLinks = (tree: SourceTree, index: number): number => 2 + tree.subdirs(index);
/** RR flags: PX and TF ("." and ".."); NM, SL, PN as named entries have them. */
const RR_PX = 0x01;
const RR_PN = 0x02;
const RR_SL = 0x04;
const RR_NM = 0x08;
const RR_TF = 0x80;
const S_IFMT = 0o170000;
const S_IFIFO = 0o010000;

/** Rock Ridge entries of a directory's "." record; the root's also say which extension is used (ER, in a continuation chunk). */
export function dotSystemUse(su: rrip.SystemUse, layout: Layout, dir: PlannedDir): rrip.SystemUse {
  su.reset();
  if (!dir.parent) su.sp();
  su.rr(RR_PX | RR_TF);
  su.px(layout.tree.mode(dir.index), dirLinks(layout.tree, dir.index));
  su.tf(layout.timeOf(dir.index));
  if (!dir.parent) {
    su.continueHere();
    su.er();
  }
  return su;
}

export function dotDotSystemUse(su: rrip.SystemUse, layout: Layout, dir: PlannedDir): rrip.SystemUse {
  const parent = (dir.parent ?? dir).index;
  su.reset();
  su.rr(RR_PX | RR_TF);
  su.px(layout.tree.mode(parent), dirLinks(layout.tree, parent));
  su.tf(layout.timeOf(parent));
  return su;
}

export function namedSystemUse(su: rrip.SystemUse, layout: Layout, i: number): rrip.SystemUse {
  const { tree } = layout;
  const mode = tree.mode(i);
  const kind = tree.kind(i);
  su.reset();
  const target = kind === Kind.Symlink ? tree.targets.get(i) : undefined;
  su.rr(RR_PX | RR_TF | RR_NM | (target !== undefined ? RR_SL : 0) | (kind === Kind.Special ? RR_PN : 0));
  let links = 1;
  if (kind === Kind.Directory) links = dirLinks(tree, i);
  else if (kind === Kind.File && tree.linkKeys.size > 0) {
    const key = tree.linkKeys.get(i);
    if (key !== undefined) links = layout.linkCounts.get(key)!;
  }
  su.px(mode, links);
  su.tf(layout.timeOf(i));
  if (kind === Kind.Special && (mode & S_IFMT) !== S_IFIFO) su.pn(tree.rdev(i));
  su.nm(tree.names[i]!);
  if (target !== undefined) su.sl(target);
  return su;
}

/** The chunks of the many records whose entries all fit: one shared empty list. */
const NONE: readonly number[] = Object.freeze([]);

/**
 * Splits Rock Ridge entries between the record (as many as fit, leaving room for a CE entry)
 * and continuation chunks of at most one sector, each but the last ending with a CE entry.
 * Entries from `su.continuedFrom` on always go to a chunk.
 */
export function fitSystemUse(su: rrip.SystemUse, identifierLength: number): SystemUseFit {
  const { ends } = su;
  const count = ends.length;
  const own = Math.min(count, su.continuedFrom);
  const budget = MAX_RECORD - recordBaseLength(identifierLength) - 1; // -1: room for an even-length pad
  const total = own === 0 ? 0 : ends[own - 1]!;
  if (total <= budget && own === count) return { inline: own, inlineLength: total, chunks: NONE, chunkLengths: NONE };
  let used = rrip.CE_LENGTH;
  let i = 0;
  while (i < own && used + ends[i]! - (i === 0 ? 0 : ends[i - 1]!) <= budget) {
    used += ends[i]! - (i === 0 ? 0 : ends[i - 1]!);
    i++;
  }
  const chunks: number[] = [];
  const chunkLengths: number[] = [];
  let entries = 0;
  let size = 0;
  for (let k = i; k < count; k++) {
    const length = ends[k]! - (k === 0 ? 0 : ends[k - 1]!);
    if (size + length + rrip.CE_LENGTH > SECTOR) {
      chunks.push(entries);
      chunkLengths.push(size + rrip.CE_LENGTH);
      entries = 0;
      size = 0;
    }
    entries++;
    size += length;
  }
  chunks.push(entries);
  chunkLengths.push(size);
  return { inline: i, inlineLength: used - rrip.CE_LENGTH, chunks, chunkLengths };
}
