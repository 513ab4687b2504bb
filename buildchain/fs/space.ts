// Room on the disk before a large write: a writer that knows its output's size refuses at once,
// naming what it needs and where, instead of failing at 90% and leaving the disk full.
import * as fs from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as builtins from '../builtins.ts';
import { BuildError } from '../errors.ts';

/** A size for people: MiB below one GiB, GiB above, two decimals. */
export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(2)} MiB`;
}

/** The nearest existing directory at or above `path`. */
function existingAncestor(path: string): string {
  let dir = resolve(path);
  for (;;) {
    try {
      if (fs.statSync(dir).isDirectory()) return dir;
    } catch {
      // not there yet: its parent will be made, and holds the bytes
    }
    const parent = dirname(dir);
    if (parent === dir) return dir;
    dir = parent;
  }
}

/** Where the file system holding `dir` is mounted: the highest ancestor on the same device. */
function mountPointOf(dir: string): string {
  const device = fs.statSync(dir).dev;
  let mount = dir;
  for (let parent = dirname(mount); parent !== mount && fs.statSync(parent).dev === device; parent = dirname(mount))
    mount = parent;
  return mount;
}

/**
 * Blocks available to unprivileged writers and their size. statfs came with Node.js 18.15; on
 * the runtime of CentOS 7 nodes (Node.js 16) coreutils' `stat -f` answers the same.
 */
function statfs(dir: string): { bavail: number; bsize: number } {
  if ('statfsSync' in fs) return fs.statfsSync(dir);
  const [bavail, bsize] = builtins
    .childProcess()
    .execFileSync('stat', ['-f', '--format=%a %S', dir], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .map(Number);
  return { bavail: bavail!, bsize: bsize! };
}

/** Refuses, naming `what` (the target itself unless said), when the target's file system has less than `bytes` free. */
export function requireFreeSpace(target: string, bytes: number, what = target): void {
  const dir = existingAncestor(dirname(resolve(target)));
  const stats = statfs(dir);
  const free = stats.bavail * stats.bsize;
  // The mount point is only for the message: a walk up the tree with a stat per level, which
  // every package and blob download would otherwise pay.
  if (free < bytes)
    throw new BuildError(`${what}: needs ${formatBytes(bytes)}, ${formatBytes(free)} free on ${mountPointOf(dir)}`);
}

const FS_FAILURES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EFBIG: 'file too large for this file system',
};

/** Whether `error` is the disk refusing a write (full, quota, read-only, failing): no retry helps. */
export function isDiskFailure(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && code in FS_FAILURES;
}

/** A failed write to `path` as a one-line error naming it (`also`: what else to say). */
export function writeFailure(path: string, error: unknown, also = ''): BuildError {
  if (error instanceof BuildError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const cause = (code && FS_FAILURES[code]) ?? (error instanceof Error ? error.message : String(error));
  return new BuildError(`${path}: cannot write (${cause})${also}`);
}
