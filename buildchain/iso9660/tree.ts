// The source tree of an ISO, read once: names, kinds, modes, sizes, times, symlink targets and
// hard links (files sharing an inode are stored once). Entries are sorted by real name so the
// same tree always gives the same ISO.
//
// A tree of 150,000 names must fit in a few MiB, not in 150,000 objects: entries are numbered
// and their fields kept in typed arrays, one column each. A directory's children are numbered
// one after the other (a directory is read whole before any of its subdirectories), so a
// directory names them by its first child and their count. Entry 0 is the root.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';

export const Kind = { File: 0, Directory: 1, Symlink: 2, Special: 3 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const S_IFMT = 0o170000;

function kindOfMode(mode: number): Kind {
  switch (mode & S_IFMT) {
    case 0o100000:
      return Kind.File;
    case 0o040000:
      return Kind.Directory;
    case 0o120000:
      return Kind.Symlink;
    default:
      return Kind.Special;
  }
}

function kindOf(stats: Stats, path: string): Kind {
  if (stats.isSocket()) throw new BuildError(`${path}: a socket cannot be stored in an ISO`);
  return kindOfMode(stats.mode);
}

/** Entries per chunk of a column: 64 Ki. */
const CHUNK_BITS = 16;
const CHUNK_MASK = (1 << CHUNK_BITS) - 1;

/**
 * A typed column in fixed chunks: it grows without copying, so a large tree never holds two
 * copies of a column, nor leaves the allocator the freed ones to fragment.
 */
class Column<T extends Uint32Array | Float64Array> {
  private readonly chunks: T[] = [];
  constructor(private readonly make: (length: number) => T) {}
  get(index: number): number {
    return this.chunks[index >>> CHUNK_BITS]![index & CHUNK_MASK]!;
  }
  set(index: number, value: number): void {
    const chunk = index >>> CHUNK_BITS;
    while (this.chunks.length <= chunk) this.chunks.push(this.make(1 << CHUNK_BITS));
    this.chunks[chunk]![index & CHUNK_MASK] = value;
  }
}

export class SourceTree {
  /** Real names (UTF-8 checked); the root's is the path the tree was read from. */
  readonly names: string[] = [];
  private readonly columns = {
    parent: new Column((n) => new Uint32Array(n)),
    /** st_mode, which also gives the kind. */
    mode: new Column((n) => new Uint32Array(n)),
    mtime: new Column((n) => new Float64Array(n)),
    size: new Column((n) => new Float64Array(n)),
    firstChild: new Column((n) => new Uint32Array(n)),
    childCount: new Column((n) => new Uint32Array(n)),
    subdirs: new Column((n) => new Uint32Array(n)),
  };
  /** Hard-link identity (dev:ino) of regular files linked more than once. */
  readonly linkKeys = new Map<number, string>();
  readonly targets = new Map<number, string>();
  /** Device numbers of the few device files. */
  private readonly devices = new Map<number, number>();
  /** The directory whose path sourcePath gave last, kept for its siblings. */
  private lastDirectory = { index: -1, path: '' };

  get count(): number {
    return this.names.length;
  }

  parent(i: number): number {
    return this.columns.parent.get(i);
  }
  kind(i: number): Kind {
    return kindOfMode(this.mode(i));
  }
  /** st_mode: type and permission bits. */
  mode(i: number): number {
    return this.columns.mode.get(i);
  }
  mtime(i: number): number {
    return this.columns.mtime.get(i);
  }
  /** Bytes of a regular file; 0 for anything else. */
  size(i: number): number {
    return this.columns.size.get(i);
  }
  rdev(i: number): number {
    return this.devices.get(i) ?? 0;
  }
  /** Children's numbers, sorted by real name. */
  children(i: number): { first: number; count: number } {
    return { first: this.columns.firstChild.get(i), count: this.columns.childCount.get(i) };
  }
  subdirs(i: number): number {
    return this.columns.subdirs.get(i);
  }

  /**
   * Absolute (or as given) path of the entry's source. The writer asks for files in entry order,
   * where siblings follow each other: their directory's path is kept rather than joined again
   * from the root for each file (measured: a tenth of the writer's time on /usr/share).
   */
  sourcePath(i: number): string {
    if (i === 0) return this.names[0]!;
    const parent = this.parent(i);
    if (parent !== this.lastDirectory.index)
      this.lastDirectory = {
        index: parent,
        path: childPrefix(parent === 0 ? this.names[0]! : this.sourcePath(parent)),
      };
    return this.lastDirectory.path + this.names[i]!;
  }

  /** Path relative to the tree's root, for messages ('' for the root). */
  treePath(i: number): string {
    if (i === 0) return '';
    const parent = this.treePath(this.parent(i));
    return parent ? `${parent}/${this.names[i]}` : this.names[i]!;
  }

  /** Reads `root` recursively; names that are not valid UTF-8 cannot be represented and are errors. */
  static scan(root: string): SourceTree {
    const tree = new SourceTree();
    const top = tree.add(root, root, 0);
    if (tree.kind(top) !== Kind.Directory) throw new BuildError(`${root}: not a directory`);
    tree.scanDirectory(top, root);
    return tree;
  }

  private add(source: string, name: string, parent: number): number {
    let stats: Stats;
    try {
      stats = lstatSync(source);
    } catch (error) {
      throw new BuildError(`${source}: cannot read (${(error as Error).message})`);
    }
    const i = this.names.length;
    const kind = kindOf(stats, source);
    this.names.push(name);
    const c = this.columns;
    c.parent.set(i, parent);
    c.mode.set(i, stats.mode);
    c.mtime.set(i, Math.floor(stats.mtimeMs / 1000));
    c.size.set(i, kind === Kind.File ? stats.size : 0);
    if (kind === Kind.Special) this.devices.set(i, stats.rdev);
    c.firstChild.set(i, 0);
    c.childCount.set(i, 0);
    c.subdirs.set(i, 0);
    if (kind === Kind.File && stats.nlink > 1) this.linkKeys.set(i, `${stats.dev}:${stats.ino}`);
    if (kind === Kind.Symlink) {
      try {
        this.targets.set(i, readlinkSync(source, 'utf8'));
      } catch (error) {
        throw new BuildError(`${source}: cannot read the link (${(error as Error).message})`);
      }
    }
    return i;
  }

  /** Numbers all of a directory's children, then reads each subdirectory the same way. */
  private scanDirectory(dir: number, source: string): void {
    let names: string[];
    try {
      // As text: one string per name. Buffers would cost a native allocation each, and the
      // scan's peak memory with them.
      names = readdirSync(source, 'utf8');
    } catch (error) {
      throw new BuildError(`${source}: cannot list (${(error as Error).message})`);
    }
    if (names.some((name) => name.includes('\ufffd'))) checkUtf8Names(source);
    // The default order of sort() is compareCodePoints' (UTF-16 code units), without a call per
    // comparison; names in a directory are unique.
    names.sort();
    const first = this.count;
    let subdirs = 0;
    const prefix = childPrefix(source);
    for (const name of names) if (this.kind(this.add(prefix + name, name, dir)) === Kind.Directory) subdirs++;
    this.columns.firstChild.set(dir, first);
    this.columns.childCount.set(dir, names.length);
    this.columns.subdirs.set(dir, subdirs);
    for (let i = first; i < first + names.length; i++) {
      if (this.kind(i) === Kind.Directory) this.scanDirectory(i, prefix + this.names[i]!);
    }
  }
}

/**
 * What join(dir, name) puts before `name`, for any name a directory lists (no '/', not '.' nor
 * '..'): one join per directory rather than one per name (path.join normalizes the whole path).
 */
function childPrefix(dir: string): string {
  return join(dir, '_').slice(0, -1);
}

/** A name that was not valid UTF-8 reads back with U+FFFD in it: find it as bytes and refuse it. */
function checkUtf8Names(dir: string): void {
  for (const raw of readdirSync(dir, { encoding: 'buffer' })) {
    if (!Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) {
      throw new BuildError(
        `${join(dir, raw.toString('latin1'))}: the name is not valid UTF-8 and cannot be represented in Rock Ridge or Joliet`,
      );
    }
  }
}
