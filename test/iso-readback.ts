// Reading an ISO back with three independent readers and comparing each with the tree it was
// written from, without extracting (a 4 GB tree is compared in one streaming pass per reader):
// - our reader: every entry, and its data hashed through extentStream;
// - bsdtar (libarchive): the image converted to a tar stream on stdout, parsed and hashed;
// - xorriso: its own `-compare_r` of the image against the tree on disk.
// Compared: names, kinds, permission bits, sizes, mtimes (files and directories), symlink
// targets and the sha256 of every file.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { IsoReader } from '../buildchain/iso9660/reader.ts';
import { requireExecutable as requireTool } from '../buildchain/tools.ts';

export interface Seen {
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  mtime?: number;
  target?: string;
  sha256?: string;
}

export type TreeView = Map<string, Seen>;

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What a tree on disk holds, as an ISO should give it back. */
export async function describeSource(root: string): Promise<TreeView> {
  const out: TreeView = new Map();
  const visit = async (rel: string): Promise<void> => {
    for (const name of readdirSync(rel ? join(root, rel) : root).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const stats = lstatSync(full);
      const mode = stats.mode & 0o7777;
      const mtime = Math.floor(stats.mtimeMs / 1000);
      if (stats.isSymbolicLink())
        out.set(path, { type: 'symlink', mode: 0, size: 0, target: readlinkSync(full, 'utf8') });
      else if (stats.isDirectory()) {
        out.set(path, { type: 'directory', mode, size: 0, mtime });
        await visit(path);
      } else if (stats.isFile())
        out.set(path, { type: 'file', mode, size: stats.size, mtime, sha256: await hashFile(full) });
    }
  };
  await visit('');
  return out;
}

/** The tree as our reader gives it. */
export async function readBackOurs(iso: string): Promise<TreeView> {
  const reader = await IsoReader.open(iso);
  try {
    const out: TreeView = new Map();
    for (const entry of (await reader.list()).entries) {
      if (entry.type === 'special') continue;
      if (entry.type === 'symlink') {
        out.set(entry.path, { type: 'symlink', mode: 0, size: 0, target: entry.target! });
        continue;
      }
      const seen: Seen = { type: entry.type, mode: entry.mode & 0o7777, size: entry.size, mtime: entry.mtime };
      if (entry.type === 'file') {
        const hash = createHash('sha256');
        for await (const chunk of reader.extentStream(entry)) hash.update(chunk);
        seen.sha256 = hash.digest('hex');
      }
      out.set(entry.path, seen);
    }
    return out;
  } finally {
    await reader.close();
  }
}

/** The tree as libarchive reads it: `bsdtar -cf - @ISO` turns the image into a tar stream. */
export async function readBackBsdtar(iso: string): Promise<TreeView> {
  const child = spawn(requireTool('bsdtar'), ['-cf', '-', '--format', 'pax', `@${iso}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const out: TreeView = new Map();
  const hardLinks: [string, string][] = [];
  const parser = extract();
  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('entry', (header, stream, next) => {
      const path = header.name.replace(/^\.\//, '').replace(/\/$/, '');
      const hash = createHash('sha256');
      stream.on('data', (chunk: unknown) => hash.update(chunk as Buffer));
      stream.on('end', () => {
        const mode = (header.mode ?? 0) & 0o7777;
        const mtime = header.mtime ? Math.floor(header.mtime.getTime() / 1000) : undefined;
        if (path === '' || path === '.') {
          // the root itself
        } else if (header.type === 'directory')
          out.set(path, { type: 'directory', mode, size: 0, ...(mtime !== undefined ? { mtime } : {}) });
        else if (header.type === 'symlink')
          out.set(path, { type: 'symlink', mode: 0, size: 0, target: header.linkname ?? '' });
        else if (header.type === 'link') hardLinks.push([path, (header.linkname ?? '').replace(/^\.\//, '')]);
        else if (header.type === 'file')
          out.set(path, {
            type: 'file',
            mode,
            size: header.size ?? 0,
            ...(mtime !== undefined ? { mtime } : {}),
            sha256: hash.digest('hex'),
          });
        next();
      });
      stream.resume();
    });
    parser.on('finish', resolve);
    parser.on('error', reject);
  });
  child.stdout.pipe(parser);
  await parsed;
  const code = await exited;
  if (code !== 0) throw new Error(`bsdtar could not read ${iso}: ${stderr.trim()}`);
  // libarchive reports names sharing one extent as hard links of the first: same content.
  for (const [path, first] of hardLinks) {
    const original = out.get(first);
    if (!original) throw new Error(`bsdtar: ${path} is a hard link to ${first}, which it did not list`);
    out.set(path, { ...original });
  }
  return out;
}

/**
 * Differences xorriso finds between the image and the tree on disk. Access and change times
 * are left out (an ISO records the modification time in all three), and so are owners: we
 * record uid/gid 0 as upstream's `mkisofs -uid 0 -gid 0` does.
 */
export function compareWithXorriso(iso: string, root: string): string[] {
  const run = spawnSync(requireTool('xorriso'), ['-indev', iso, '-compare_r', root, '/'], {
    encoding: 'utf8',
    maxBuffer: 512 << 20,
  });
  const lines = `${run.stdout}\n${run.stderr}`.split('\n');
  return lines.filter((line) => /^[-?] '/.test(line) && !/: st_(ctime|atime|uid|gid)\s+:/.test(line));
}

/** The first differences between two views, as lines; none when they are equal. */
export function differences(expected: TreeView, actual: TreeView, reader: string, limit = 20): string[] {
  const out: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (!got) out.push(`${reader}: missing ${path}`);
    else {
      for (const key of ['type', 'mode', 'size', 'mtime', 'target', 'sha256'] as const) {
        if (want[key] !== undefined && got[key] !== undefined && want[key] !== got[key])
          out.push(`${reader}: ${path}: ${key} ${String(want[key])} != ${String(got[key])}`);
      }
      if (want.type === 'file' && got.sha256 === undefined) out.push(`${reader}: ${path}: no content`);
    }
    if (out.length >= limit) return out;
  }
  for (const path of actual.keys()) {
    if (!expected.has(path)) out.push(`${reader}: unexpected ${path}`);
    if (out.length >= limit) break;
  }
  return out;
}

/** Every difference any of the three readers finds between `iso` and `root`. */
export async function readBackDifferences(iso: string, root: string): Promise<string[]> {
  const source = await describeSource(root);
  return [
    ...differences(source, await readBackOurs(iso), 'our reader'),
    ...differences(source, await readBackBsdtar(iso), 'bsdtar'),
    ...compareWithXorriso(iso, root)
      .slice(0, 20)
      .map((line) => `xorriso: ${line}`),
  ];
}
