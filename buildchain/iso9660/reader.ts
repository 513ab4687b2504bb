// The ISO reader: lists and extracts an ISO 9660 image without mounting it (the node-side agent
// runs where mount may not be allowed). Names come from Rock Ridge when present, else Joliet,
// else ISO 9660 (version suffix dropped). Multi-extent files are read as one file.
import { createWriteStream } from 'node:fs';
import { mkdir, open, symlink, utimes, chmod, type FileHandle } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.ts';
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

export class IsoReader {
  private constructor(private readonly file: FileHandle, readonly path: string) {}

  static async open(path: string): Promise<IsoReader> {
    try {
      return new IsoReader(await open(path, 'r'), path);
    } catch (error) {
      throw new BuildError(`${path}: cannot open (${(error as Error).message})`);
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  private async read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await this.file.read(buf, 0, length, position);
    if (bytesRead < length) throw new BuildError(`${this.path}: truncated image (wanted ${length} bytes at ${position})`);
    return buf;
  }

  /** Every entry, parents before children, in the chosen name space. */
  async list(): Promise<IsoInfo> {
    let primary: Buffer | undefined;
    let joliet: Buffer | undefined;
    for (let block = FIRST_DESCRIPTOR; ; block++) {
      const d = await this.read(block * SECTOR, SECTOR);
      if (d.toString('latin1', 1, 6) !== 'CD001') throw new BuildError(`${this.path}: not an ISO 9660 image (no volume descriptor at block ${block})`);
      if (d[0] === 1) primary = d;
      if (d[0] === 2 && /^%\/[@CE]/.test(d.toString('latin1', 88, 91))) joliet = d;
      if (d[0] === 255) break;
    }
    if (!primary) throw new BuildError(`${this.path}: no primary volume descriptor`);
    const rootOf = (d: Buffer): RawRecord => parseRecord(d.subarray(156, 190));
    const rootDot = (await this.records(rootOf(primary)))[0];
    const suspSkip = rootDot && rootDot.systemUse.toString('latin1', 0, 2) === 'SP' ? rootDot.systemUse[6]! : -1;
    const rockRidge = suspSkip >= 0;
    const useJoliet = !rockRidge && joliet !== undefined;
    const entries: IsoEntry[] = [];
    const walk = async (dir: RawRecord, prefix: string, depth: number): Promise<void> => {
      if (depth > 1000) throw new BuildError(`${this.path}: directories nested too deep (a loop?)`);
      const records = (await this.records(dir)).slice(2);
      let pending: IsoEntry | undefined;
      for (const record of records) {
        if (pending) {
          pending.extents.push([record.extent, record.size]);
          pending.size += record.size;
          if (!(record.flags & FLAG_MULTI_EXTENT)) pending = undefined;
          continue;
        }
        const rr = rockRidge ? await this.rockRidge(record.systemUse, suspSkip) : {};
        const name = rr.name ?? (useJoliet ? decodeUcs2(record.identifier) : record.identifier.toString('latin1')).replace(/;1$/, '');
        if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new BuildError(`${this.path}: invalid name '${name}' in ${prefix || '/'}`);
        const isDir = (record.flags & FLAG_DIRECTORY) !== 0;
        const format = rr.mode === undefined ? undefined : rr.mode & 0o170000;
        const type: EntryType = rr.target !== undefined ? 'symlink' : isDir ? 'directory' : format !== undefined && format !== 0o100000 ? 'special' : 'file';
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
        entries.push(entry);
        if (record.flags & FLAG_MULTI_EXTENT) pending = entry;
        if (isDir) await walk(record, entry.path, depth + 1);
      }
    };
    await walk(rootOf(useJoliet ? joliet! : primary), '', 0);
    return { volumeId: primary.toString('latin1', 40, 72).trimEnd(), blocks: primary.readUInt32LE(80), rockRidge, joliet: joliet !== undefined, entries };
  }

  private async records(dir: RawRecord): Promise<RawRecord[]> {
    const data = await this.read(dir.extent * SECTOR, dir.size);
    const out: RawRecord[] = [];
    for (let offset = 0; offset < data.length; ) {
      const length = data[offset]!;
      if (length === 0) {
        offset = (Math.floor(offset / SECTOR) + 1) * SECTOR; // the rest of this sector is padding
        continue;
      }
      out.push(parseRecord(data.subarray(offset, offset + length)));
      offset += length;
    }
    return out;
  }

  /** Reads the Rock Ridge entries of a record, following CE continuation areas. */
  private async rockRidge(systemUse: Buffer, skip: number): Promise<RockRidge> {
    const rr: RockRidge = {};
    let area: Buffer | undefined = systemUse.subarray(skip);
    let name = '';
    let hasName = false;
    let target: string[] | undefined;
    let component = '';
    for (let hops = 0; area && hops < 64; hops++) {
      let next: Buffer | undefined;
      for (let offset = 0; offset + 4 <= area.length; ) {
        const signature = area.toString('latin1', offset, offset + 2);
        const length = area[offset + 2]!;
        if (length < 4) break;
        const body = area.subarray(offset + 4, offset + length);
        if (signature === 'CE') next = await this.read(body.readUInt32LE(0) * SECTOR + body.readUInt32LE(8), body.readUInt32LE(16));
        else if (signature === 'PX') rr.mode = body.readUInt32LE(0);
        else if (signature === 'NM') {
          if ((body[0]! & 0x06) === 0) {
            name += body.subarray(1).toString('utf8');
            hasName = true;
          }
        } else if (signature === 'SL') {
          target ??= [];
          for (let c = 1; c + 2 <= body.length; ) {
            const flags = body[c]!;
            const len = body[c + 1]!;
            const text = body.subarray(c + 2, c + 2 + len).toString('utf8');
            if (flags & 0x08) target.push('');
            else if (flags & 0x02) target.push('.');
            else if (flags & 0x04) target.push('..');
            else {
              component += text;
              if (!(flags & 0x01)) {
                target.push(component);
                component = '';
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
    if (hasName) rr.name = name;
    if (target) rr.target = target.length === 1 && target[0] === '' ? '/' : target.join('/');
    return rr;
  }

  /** Extracts everything under `destination`, which must not escape it; returns the entries. */
  async extract(destination: string): Promise<IsoEntry[]> {
    const { entries } = await this.list();
    const root = normalize(destination);
    await mkdir(root, { recursive: true });
    const directories: IsoEntry[] = [];
    for (const entry of entries) {
      const path = normalize(join(root, entry.path));
      if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) throw new BuildError(`${this.path}: entry '${entry.path}' would escape ${destination}`);
      if (entry.type === 'directory') {
        await mkdir(path, { recursive: true });
        directories.push(entry);
      } else if (entry.type === 'symlink') {
        await symlink(entry.target!, path);
      } else if (entry.type === 'file') {
        await pipeline(this.extentStream(entry), createWriteStream(path, { mode: entry.mode & 0o7777 }));
        await chmod(path, entry.mode & 0o7777);
        await utimes(path, entry.mtime, entry.mtime);
      }
    }
    // Directories last: writing into them moved their mtime, and a read-only one would refuse files.
    for (const entry of directories.reverse()) {
      const path = join(root, entry.path);
      await chmod(path, entry.mode & 0o7777);
      await utimes(path, entry.mtime, entry.mtime);
    }
    return entries;
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
