// Removing what a build no longer produces from a directory the build owns.
import { readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles } from './walk.ts';

/**
 * Removes the files under `root` that `keep` refuses (paths relative to `root`), then the
 * directories this left empty; `root` itself stays. Returns the removed files.
 */
export function removeUnkept(root: string, keep: (path: string) => boolean): string[] {
  const removed = listFiles(root).filter((path) => !keep(path));
  for (const path of removed) rmSync(join(root, path), { force: true });
  const pruneEmpty = (dir: string): boolean => {
    let empty = true;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && pruneEmpty(join(dir, entry.name))) rmdirSync(join(dir, entry.name));
      else empty = false;
    }
    return empty;
  };
  if (removed.length > 0) pruneEmpty(root);
  return removed;
}
