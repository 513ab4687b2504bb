// Deterministic recursive listing of a directory tree.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface WalkOptions {
  /** Directory names never entered (e.g. node_modules). */
  skipDirs?: ReadonlySet<string>;
}

/** Files (and symlinks) under `dir`, as paths relative to it, sorted by code point. */
export function listFiles(dir: string, options: WalkOptions = {}): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    const entries = readdirSync(rel ? join(dir, rel) : dir, { withFileTypes: true });
    for (const entry of entries) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!options.skipDirs?.has(entry.name)) visit(child);
      } else {
        out.push(child);
      }
    }
  };
  visit('');
  return out.sort(compareCodePoints);
}

export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
