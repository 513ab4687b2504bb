// The ISO reader: lists and extracts an ISO 9660 image without mounting it (the node-side agent
// runs where mount may not be allowed). Names come from Rock Ridge when present, else Joliet,
// else ISO 9660 (version suffix dropped). Multi-extent files are read as one file.
// Images come from outside (Solution vendors, downloads): everything an image declares is
// checked against the file before it is trusted (extents inside the image, directory sizes,
// names, no directory reached twice), and extraction never writes through a symlink or
// outside its destination.
import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, rmdir, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { tempPathFor } from '../fs/atomic.ts';
import { requireFreeSpace, writeFailure } from '../fs/space.ts';
import { FIRST_DESCRIPTOR, FLAG_DIRECTORY, FLAG_MULTI_EXTENT, SECTOR, decodeUcs2, parseRecordDate } from './ecma119.ts';

export type EntryType = 'file' | 'directory' | 'symlink' | 'special';

export interface IsoEntry {
  /** Path inside the image, '/'-separated, without a leading slash. */
  path: string;
  type: EntryType;
  size: number;
  /** Permission and type bits from Rock Ridge (defaults without it). */
  mode: number;
  /** Seconds since 1970. */
  mtime: number;
  target?: string;
  /** [block, bytes] of each extent; hard links share them. */
  extents: [number, number][];
  /** The ISO 9660 identifier in the primary tree (version `;1` dropped), when that tree was read. */
  identifier?: string;
}

export interface IsoInfo {
  volumeId: string;
  blocks: number;
  rockRidge: boolean;
  joliet: boolean;
  entries: IsoEntry[];
}

interface RawRecord {
  extent: number;
  size: number;
  flags: number;
  mtime: number;
  identifier: Buffer;
  systemUse: Buffer;
}

interface RockRidge {
  name?: string;
  mode?: number;
  target?: string;
  mtime?: number;
}

/** A directory's records are read whole: more than this is no directory a writer makes. */
const MAX_DIRECTORY_BYTES = 256 << 20;
/** A Rock Ridge continuation area lies within one sector (SUSP 5.1). */
const MAX_CONTINUATION = SECTOR;

export class IsoReader {
  private constructor(
    private readonly file: FileHandle,
    readonly path: string,
    private readonly bytes: number,
  ) {}

  static async open(path: string): Promise<IsoReader> {
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (error) {
      throw new BuildError(`${path}: cannot open (${(error as Error).message})`);
    }
    const stat = await file.stat();
    if (stat.isDirectory()) {
      await file.close();
      throw new BuildError(`${path}: is a directory, not an ISO 9660 image`);
    }
    return new IsoReader(file, path, stat.size);
  }

  /** Refuses an extent that does not lie inside the image. */
  private checkExtent(block: number, length: number, what: string): void {
    if (block * SECTOR + length > this.bytes) {
      throw new BuildError(
        `${this.path}: ${what} declares ${length} bytes at block ${block}, past the end of the image (${this.bytes} bytes)`,
      );
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  private async read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await this.file.read(buf, 0, length, position);
    if (bytesRead < length)
      throw new BuildError(`${this.path}: truncated image (wanted ${length} bytes at ${position})`);
    return buf;
  }

  /** Every entry, parents before children, in the chosen name space. */
  async list(): Promise<IsoInfo> {
    let primary: Buffer | undefined;
    let joliet: Buffer | undefined;
    for (let block = FIRST_DESCRIPTOR; ; block++) {
      // A file too short to hold the descriptor is no ISO rather than a truncated one.
      if (block === FIRST_DESCRIPTOR && this.bytes < (block + 1) * SECTOR)
        throw new BuildError(`${this.path}: not an ISO 9660 image (${this.bytes} bytes, no volume descriptors)`);
      const d = await this.read(block * SECTOR, SECTOR);
      if (d.toString('latin1', 1, 6) !== 'CD001')
        throw new BuildError(`${this.path}: not an ISO 9660 image (no volume descriptor at block ${block})`);
      if (d[0] === 1) primary = d;
      if (d[0] === 2 && /^%\/[@CE]/.test(d.toString('latin1', 88, 91))) joliet = d;
      if (d[0] === 255) break;
    }
    if (!primary) throw new BuildError(`${this.path}: no primary volume descriptor`);
    const rootOf = (d: Buffer): RawRecord => parseRecord(d.subarray(156, 190));
    const rootDot = (await this.records(rootOf(primary), '/'))[0];
    const suspSkip = rootDot && rootDot.systemUse.toString('latin1', 0, 2) === 'SP' ? rootDot.systemUse[6]! : -1;
    const rockRidge = suspSkip >= 0;
    const useJoliet = !rockRidge && joliet !== undefined;
    const entries: IsoEntry[] = [];
    // Every directory extent once: a record pointing back to an ancestor (a loop) or to another
    // directory's extent (a tree that grows exponentially) is no image a writer makes.
    const seen = new Map<number, string>();
    const walk = async (dir: RawRecord, prefix: string, depth: number): Promise<void> => {
      const where = `/${prefix}`;
      if (depth > 1000) throw new BuildError(`${this.path}: directories nested more than 1000 deep at ${where}`);
      const before = seen.get(dir.extent);
      if (before !== undefined)
        throw new BuildError(
          `${this.path}: directory ${where} points to the records of ${before} (a directory loop or a shared directory)`,
        );
      seen.set(dir.extent, where);
      const records = (await this.records(dir, where)).slice(2);
      const names = new Set<string>();
      let pending: IsoEntry | undefined;
      for (const record of records) {
        if (pending) {
          this.checkExtent(record.extent, record.size, `file ${pending.path}`);
          pending.extents.push([record.extent, record.size]);
          pending.size += record.size;
          if (!(record.flags & FLAG_MULTI_EXTENT)) pending = undefined;
          continue;
        }
        const rr = rockRidge ? await this.rockRidge(record.systemUse, suspSkip) : {};
        const name =
          rr.name ??
          (useJoliet ? decodeUcs2(record.identifier) : record.identifier.toString('latin1')).replace(/;1$/, '');
        if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
          throw new BuildError(`${this.path}: invalid name ${JSON.stringify(name)} in ${where}`);
        }
        if (names.has(name)) throw new BuildError(`${this.path}: the name '${name}' appears twice in ${where}`);
        names.add(name);
        const isDir = (record.flags & FLAG_DIRECTORY) !== 0;
        const format = rr.mode === undefined ? undefined : rr.mode & 0o170000;
        const type: EntryType =
          rr.target !== undefined
            ? 'symlink'
            : isDir
              ? 'directory'
              : format !== undefined && format !== 0o100000
                ? 'special'
                : 'file';
        const entry: IsoEntry = {
          path: prefix ? `${prefix}/${name}` : name,
          type,
          size: isDir ? 0 : record.size,
          mode: rr.mode ?? (isDir ? 0o40555 : 0o100444),
          mtime: rr.mtime ?? record.mtime,
          extents: isDir || type !== 'file' ? [] : [[record.extent, record.size]],
          ...(rr.target !== undefined ? { target: rr.target } : {}),
          ...(useJoliet ? {} : { identifier: record.identifier.toString('latin1').replace(/;1$/, '') }),
        };
        if (type === 'file') this.checkExtent(record.extent, record.size, `file ${entry.path}`);
        entries.push(entry);
        if (record.flags & FLAG_MULTI_EXTENT) pending = entry;
        if (type === 'directory') await walk(record, entry.path, depth + 1);
      }
    };
    try {
      await walk(rootOf(useJoliet ? joliet! : primary), '', 0);
    } catch (error) {
      // A record or entry shorter than it says it is: a damaged or crafted image.
      if (error instanceof BuildError) throw error;
      throw new BuildError(`${this.path}: malformed image (${(error as Error).message})`);
    }
    return {
      volumeId: primary.toString('latin1', 40, 72).trimEnd(),
      blocks: primary.readUInt32LE(80),
      rockRidge,
      joliet: joliet !== undefined,
      entries,
    };
  }

  private async records(dir: RawRecord, where: string): Promise<RawRecord[]> {
    if (dir.size > MAX_DIRECTORY_BYTES)
      throw new BuildError(
        `${this.path}: directory ${where} declares ${dir.size} bytes of records, more than ${MAX_DIRECTORY_BYTES}`,
      );
    this.checkExtent(dir.extent, dir.size, `directory ${where}`);
    const data = await this.read(dir.extent * SECTOR, dir.size);
    const out: RawRecord[] = [];
    for (let offset = 0; offset < data.length; ) {
      const length = data[offset]!;
      if (length === 0) {
        offset = (Math.floor(offset / SECTOR) + 1) * SECTOR; // the rest of this sector is padding
        continue;
      }
      if (length < 34 || offset + length > data.length || 33 + data[offset + 32]! > length) {
        throw new BuildError(`${this.path}: directory ${where} has a malformed record at byte ${offset}`);
      }
      out.push(parseRecord(data.subarray(offset, offset + length)));
      offset += length;
    }
    if (out.length < 2) throw new BuildError(`${this.path}: directory ${where} has no "." and ".." records`);
    return out;
  }

  /** Reads the Rock Ridge entries of a record, following CE continuation areas. */
  private async rockRidge(systemUse: Buffer, skip: number): Promise<RockRidge> {
    const rr: RockRidge = {};
    let area: Buffer | undefined = systemUse.subarray(skip);
    // Names and components are gathered as bytes and decoded whole: a writer may cut a UTF-8
    // character between two entries.
    const name: Buffer[] = [];
    let hasName = false;
    let target: string[] | undefined;
    let component: Buffer[] = [];
    for (let hops = 0; area && hops < 64; hops++) {
      let next: Buffer | undefined;
      for (let offset = 0; offset + 4 <= area.length; ) {
        const signature = area.toString('latin1', offset, offset + 2);
        const length = area[offset + 2]!;
        if (length < 4) break;
        const body = area.subarray(offset + 4, offset + length);
        if (signature === 'CE' && body.length >= 24) {
          const [block, at, bytes] = [body.readUInt32LE(0), body.readUInt32LE(8), body.readUInt32LE(16)];
          if (at + bytes > MAX_CONTINUATION)
            throw new BuildError(
              `${this.path}: a Rock Ridge continuation area of ${bytes} bytes at offset ${at} crosses its sector`,
            );
          this.checkExtent(block, at + bytes, 'a Rock Ridge continuation area');
          next = await this.read(block * SECTOR + at, bytes);
        } else if (signature === 'PX' && body.length >= 8) rr.mode = body.readUInt32LE(0);
        else if (signature === 'NM') {
          if ((body[0]! & 0x06) === 0) {
            name.push(body.subarray(1));
            hasName = true;
          }
        } else if (signature === 'SL') {
          target ??= [];
          for (let c = 1; c + 2 <= body.length; ) {
            const flags = body[c]!;
            const len = body[c + 1]!;
            if (flags & 0x08) target.push('');
            else if (flags & 0x02) target.push('.');
            else if (flags & 0x04) target.push('..');
            else {
              component.push(body.subarray(c + 2, c + 2 + len));
              if (!(flags & 0x01)) {
                target.push(Buffer.concat(component).toString('utf8'));
                component = [];
              }
            }
            c += 2 + len;
          }
        } else if (signature === 'TF') {
          const flags = body[0]!;
          if (!(flags & 0x80) && flags & 0x02) rr.mtime = parseRecordDate(body, 1 + (flags & 0x01 ? 7 : 0));
        } else if (signature === 'ST') {
          break;
        }
        offset += length;
      }
      area = next;
    }
    if (hasName) rr.name = Buffer.concat(name).toString('utf8');
    if (target) rr.target = target.length === 1 && target[0] === '' ? '/' : target.join('/');
    return rr;
  }

  /**
   * Extracts everything into `destination`, a new or empty directory; returns the entries.
   * The tree is made in a staging sibling and moved into place whole: a failure (a full disk,
   * a hostile image) leaves nothing behind. Inside it, every parent is a directory this
   * extraction made, files are created exclusively and never through a symlink (O_EXCL |
   * O_NOFOLLOW), and symlinks are created, never followed.
   */
  async extract(destination: string): Promise<IsoEntry[]> {
    const { entries } = await this.list();
    const target = resolve(destination);
    const existing = await readdir(target).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw new BuildError(`${destination}: cannot extract into it (${error.message})`);
    });
    if (existing && existing.length > 0)
      throw new BuildError(`${destination}: not empty; an ISO is extracted into a new or empty directory`);
    requireFreeSpace(
      target,
      entries.reduce((sum, entry) => sum + entry.size, 0),
    );
    await mkdir(dirname(target), { recursive: true });
    const staging = tempPathFor(target);
    try {
      await mkdir(staging); // as a directory made by mkdir -p would be
      await this.extractInto(staging, entries);
      if (existing) await rmdir(target);
      await rename(staging, target);
    } catch (error) {
      await removeTree(staging);
      throw writeFailure(destination, error);
    }
    return entries;
  }

  private async extractInto(root: string, entries: IsoEntry[]): Promise<void> {
    const made = new Set<string>(['']);
    const directories: IsoEntry[] = [];
    for (const entry of entries) {
      const parent = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/')) : '';
      if (!made.has(parent))
        throw new BuildError(`${this.path}: '${entry.path}' is not inside a directory of the image`);
      const path = join(root, entry.path);
      if (entry.type === 'directory') {
        await mkdir(path, { mode: 0o700 });
        made.add(entry.path);
        directories.push(entry);
      } else if (entry.type === 'symlink') {
        await symlink(entry.target!, path);
      } else if (entry.type === 'file') {
        const out = await open(
          path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        try {
          for await (const chunk of this.extentStream(entry)) {
            for (let done = 0; done < chunk.length; )
              done += (await out.write(chunk, done, chunk.length - done)).bytesWritten;
          }
          await out.chmod(entry.mode & 0o7777);
          await out.utimes(entry.mtime, entry.mtime);
        } finally {
          await out.close();
        }
      }
    }
    // Directories last: writing into them moved their mtime, and a read-only one would refuse files.
    for (const entry of directories.reverse()) {
      const path = join(root, entry.path);
      await chmod(path, entry.mode & 0o7777);
      await utimes(path, entry.mtime, entry.mtime);
    }
  }

  /** A small file's bytes at once (product.txt, a manifest): big ones go through extentStream. */
  async readFile(entry: IsoEntry): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.extentStream(entry)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** The bytes of a file, extent after extent, through a bounded buffer. */
  async *extentStream(entry: IsoEntry): AsyncGenerator<Buffer> {
    const chunk = 1 << 20;
    for (const [block, size] of entry.extents) {
      for (let done = 0; done < size; ) {
        const length = Math.min(chunk, size - done);
        yield await this.read(block * SECTOR + done, length);
        done += length;
      }
    }
  }
}

function parseRecord(rec: Buffer): RawRecord {
  const idLength = rec[32]!;
  const suStart = 33 + idLength + (idLength % 2 === 0 ? 1 : 0);
  return {
    extent: rec.readUInt32LE(2),
    size: rec.readUInt32LE(10),
    mtime: parseRecordDate(rec, 18),
    flags: rec[25]!,
    identifier: rec.subarray(33, 33 + idLength),
    systemUse: rec.subarray(suStart, rec[0]),
  };
}

/** Removes a partial extraction, read-only directories included (rm alone cannot, unless root). */
async function removeTree(dir: string): Promise<void> {
  const unlock = async (path: string): Promise<void> => {
    await chmod(path, 0o700).catch(() => undefined);
    const children = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const child of children) if (child.isDirectory()) await unlock(join(path, child.name));
  };
  await unlock(dir);
  await rm(dir, { recursive: true, force: true });
}
