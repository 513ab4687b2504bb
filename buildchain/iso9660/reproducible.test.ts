// Without SOURCE_DATE_EPOCH, the same tree written twice a second apart gives the same bytes:
// the volume dates come from the tree's newest mtime, not the clock.
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { writeIso } from './writer.ts';

describe('iso create without SOURCE_DATE_EPOCH', () => {
  it('writes byte-identical images a second apart, dated by the newest mtime', async () => {
    const tree = tempDir('iso-repro-tree-');
    writeFileSync(join(tree, 'a.txt'), 'a\n');
    utimesSync(join(tree, 'a.txt'), 1_700_000_000, 1_700_000_000);
    utimesSync(tree, 1_600_000_000, 1_600_000_000);
    const out = tempDir('iso-repro-out-');
    const first = await writeIso(tree, join(out, '1.iso'), { volumeId: 'REPRO' });
    await new Promise((done) => setTimeout(done, 1100));
    const second = await writeIso(tree, join(out, '2.iso'), { volumeId: 'REPRO' });
    expect(second.sha256).toBe(first.sha256);
    expect(readFileSync(join(out, '2.iso')).equals(readFileSync(join(out, '1.iso')))).toBe(true);
    // The primary volume descriptor's creation date (offset 813): 2023-11-14, a.txt's mtime.
    const pvd = readFileSync(join(out, '1.iso')).subarray(16 * 2048, 17 * 2048);
    expect(pvd.toString('latin1', 813, 821)).toBe('20231114');
  });
});
