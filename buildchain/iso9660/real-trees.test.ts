// The writer on trees no test of ours made: the test machine's own /usr/share/man (24,000
// names, directories of 17,000 entries) and /usr/lib (76,000 names, 4 GB, files over 100 MB,
// symlinks and hard links). Each image is read back by our reader, bsdtar and xorriso and must
// give the tree back as it is on disk. Both trees exist on every machine of this kind.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { readBackDifferences } from '../../test/iso-readback.ts';
import { writeIso } from './writer.ts';

describe.each(['/usr/share/man', '/usr/lib'])('the real tree %s', (tree) => {
  it('is written and read back identically by our reader, bsdtar and xorriso', async () => {
    expect(existsSync(tree), `${tree} is on every machine of this kind`).toBe(true);
    const iso = join(tempDir('iso-real-'), 'real.iso');
    await writeIso(tree, iso, { volumeId: 'REAL TREE' });
    expect(await readBackDifferences(iso, tree)).toEqual([]);
  }, 900_000);
});
