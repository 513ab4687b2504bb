// Property test of the writer: trees generated from fixed seeds (test/iso-trees.ts), each written
// and read back by our reader, bsdtar and xorriso, identical to the source. A longer sweep over
// many seeds: `npm run sweep:iso -- SEEDS`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { readBackDifferences } from '../../test/iso-readback.ts';
import { makeTree } from '../../test/iso-trees.ts';
import { writeIso } from './writer.ts';

describe.each([
  { seed: 1, entries: 3000, hugeDirectory: 0 },
  { seed: 2, entries: 3000, hugeDirectory: 0 },
  { seed: 3, entries: 1500, hugeDirectory: 20_500 },
])(
  'a generated tree (seed $seed, $entries entries, a directory of $hugeDirectory)',
  ({ seed, entries, hugeDirectory }) => {
    it('is read back identically by our reader, bsdtar and xorriso', async () => {
      const dir = tempDir('iso-prop-');
      const root = join(dir, 'tree');
      mkdirSync(root);
      makeTree(root, seed, { entries, hugeDirectory });
      const iso = join(dir, 'tree.iso');
      await writeIso(root, iso, { volumeId: `SEED ${seed}`, sourceDateEpoch: 2_000_000_000 });
      expect(await readBackDifferences(iso, root)).toEqual([]);
    }, 300_000);
  },
);
