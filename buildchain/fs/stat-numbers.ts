// The stat numbers of many paths, fast: a no-op build stats every file_dep and target it proved
// (40,000 paths at 20,000 tasks). On Node 20, fs.statSync builds a Stats object with four Dates
// per call, which in a short-lived process costs three times the system call itself; Node's own
// fs binding answers with the numbers alone. It is used only when it is there and agrees with
// fs.statSync on a file and on a missing path; fs.statSync otherwise (another Node, or one run
// with --pending-deprecation, which would warn of process.binding).
import { statSync } from 'node:fs';
import { dirname } from 'node:path';

/** [mtimeMs, size, ino] of a path, as fs.Stats has them; undefined when it does not exist. */
export type StatNumbers = [mtimeMs: number, size: number, ino: number];

/** What the engine reads of a file: its stat numbers, and whether it is a directory. */
export interface FileStat {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  directory: boolean;
}

/** A file's digest a project knows from its stat (engine.ts' Project.knownDigest): hex sha256, or undefined. */
export type KnownDigest = (stats: Pick<FileStat, 'dev' | 'ino' | 'size' | 'mtimeMs'>) => string | undefined;

type Binding = { stat(path: string, bigint: boolean, request: undefined, throwIfNoEntry: boolean): unknown };

type Way = (path: string) => FileStat | undefined;

function viaStatSync(path: string): FileStat | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return (
    stats && {
      dev: stats.dev,
      ino: stats.ino,
      size: stats.size,
      mtimeMs: stats.mtimeMs,
      ctimeMs: stats.ctimeMs,
      directory: stats.isDirectory(),
    }
  );
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

function viaBinding(binding: Binding): Way {
  return (path) => {
    // Node's layout of a stat (lib/internal/fs/utils.js): dev at 0, mode at 1, ino at 7, size at
    // 8, mtime s and ns at 12, 13, ctime s and ns at 14, 15.
    const values = binding.stat(path, false, undefined, false) as Float64Array | undefined;
    if (values === undefined) return undefined;
    return {
      dev: values[0]!,
      ino: values[7]!,
      size: values[8]!,
      mtimeMs: values[12]! * 1e3 + values[13]! / 1e6,
      ctimeMs: values[14]! * 1e3 + values[15]! / 1e6,
      directory: (values[1]! & S_IFMT) === S_IFDIR,
    };
  };
}

/** The way through Node's fs binding, when it is there and agrees with fs.statSync; exported for its test. */
export function bindingStat(): Way | undefined {
  const chosen = choose();
  return chosen === viaStatSync ? undefined : chosen;
}

function choose(): Way {
  const warns = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((option) =>
    option.startsWith('--pending-deprecation'),
  );
  // Not in @types/node: process.binding is deprecated (documentation only) since Node 10.
  const { binding: load } = process as unknown as { binding?: (name: string) => unknown };
  if (warns || typeof load !== 'function') return viaStatSync;
  try {
    const binding = load.call(process, 'fs') as Binding | undefined;
    if (typeof binding?.stat !== 'function') return viaStatSync;
    const fast = viaBinding(binding);
    const sample = process.execPath;
    const same = (path: string): boolean => JSON.stringify(fast(path)) === JSON.stringify(viaStatSync(path));
    const agree = same(sample) && same(dirname(sample)) && fast(`${sample}.does-not-exist/x`) === undefined;
    return agree ? fast : viaStatSync;
  } catch {
    return viaStatSync;
  }
}

let chosen: Way | undefined;

/** The stat of `path` (relative paths from the cwd), following symlinks as fs.statSync does. */
export function statFile(path: string): FileStat | undefined {
  chosen ??= choose();
  return chosen(path);
}

/** The stat numbers of `path`, as statFile. */
export function statNumbers(path: string): StatNumbers | undefined {
  const stats = statFile(path);
  return stats && [stats.mtimeMs, stats.size, stats.ino];
}
