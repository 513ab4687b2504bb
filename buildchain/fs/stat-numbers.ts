// The stat numbers of many paths, fast: a no-op build stats every file_dep and target it proved
// (40,000 paths at 20,000 tasks). On Node 20, fs.statSync builds a Stats object with four Dates
// per call, which in a short-lived process costs three times the system call itself; Node's own
// fs binding answers with the numbers alone. It is used only when it is there and agrees with
// fs.statSync on a file and on a missing path; fs.statSync otherwise (another Node, or one run
// with --pending-deprecation, which would warn of process.binding).
import { statSync } from 'node:fs';

/** [mtimeMs, size, ino] of a path, as fs.Stats has them; undefined when it does not exist. */
export type StatNumbers = [mtimeMs: number, size: number, ino: number];

type Binding = { stat(path: string, bigint: boolean, request: undefined, throwIfNoEntry: boolean): unknown };

function viaStatSync(path: string): StatNumbers | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats ? [stats.mtimeMs, stats.size, stats.ino] : undefined;
}

function viaBinding(binding: Binding): (path: string) => StatNumbers | undefined {
  return (path) => {
    // Node's layout of a stat (lib/internal/fs/utils.js): ino at 7, size at 8, mtime s and ns at 12, 13.
    const values = binding.stat(path, false, undefined, false) as Float64Array | undefined;
    return values === undefined ? undefined : [values[12]! * 1e3 + values[13]! / 1e6, values[8]!, values[7]!];
  };
}

/** The way through Node's fs binding, when it is there and agrees with fs.statSync; exported for its test. */
export function bindingStatNumbers(): ((path: string) => StatNumbers | undefined) | undefined {
  const chosen = choose();
  return chosen === viaStatSync ? undefined : chosen;
}

function choose(): (path: string) => StatNumbers | undefined {
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
    const [a, b] = [fast(sample), viaStatSync(sample)];
    const agree = a !== undefined && b !== undefined && a.every((value, i) => value === b[i]);
    return agree && fast(`${sample}.does-not-exist/x`) === undefined ? fast : viaStatSync;
  } catch {
    return viaStatSync;
  }
}

let chosen: ((path: string) => StatNumbers | undefined) | undefined;

/** The stat numbers of `path` (relative paths from the cwd), following symlinks as fs.statSync does. */
export function statNumbers(path: string): StatNumbers | undefined {
  chosen ??= choose();
  return chosen(path);
}
