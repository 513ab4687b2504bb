// statNumbers must say what fs.statSync says, whichever way it asks.
import { mkdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { bindingStat, statFile } from './stat-numbers.ts';

describe('statFile', () => {
  it('agrees with fs.statSync on files, directories, symlinks and missing paths', () => {
    const dir = tempDir();
    const file = join(dir, 'file');
    writeFileSync(file, 'some bytes');
    const odd = new Date(1_700_000_000_123.456); // a fractional millisecond
    utimesSync(file, odd, odd);
    mkdirSync(join(dir, 'sub'));
    symlinkSync(file, join(dir, 'link'));
    // On Node 20 (the chain's runtime) the fast way is there: it is what a no-op build relies on.
    const fast = bindingStat();
    expect(fast).toBeDefined();
    const outcome = <T>(read: () => T): T | string => {
      try {
        return read();
      } catch (error) {
        return (error as NodeJS.ErrnoException).code ?? String(error);
      }
    };
    for (const path of [file, join(dir, 'sub'), join(dir, 'link'), join(dir, 'missing'), join(file, 'under-a-file')]) {
      const expected = outcome(() => {
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
      });
      expect(outcome(() => statFile(path))).toEqual(expected);
      expect(outcome(() => fast!(path))).toEqual(expected);
    }
  });
});
