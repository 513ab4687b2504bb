// The property test's longer sweep: `npm run sweep:iso -- [SEEDS] [ENTRIES]` writes a generated
// tree per seed (test/iso-trees.ts) and reads it back with our reader, bsdtar and xorriso.
// Prints each failing seed with its first differences; exits 1 if any failed.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeIso } from '../buildchain/iso9660/writer.ts';
import { readBackDifferences } from './iso-readback.ts';
import { makeTree } from './iso-trees.ts';

const seeds = Number(process.argv[2] ?? 50);
const entries = Number(process.argv[3] ?? 1500);
if (!Number.isInteger(seeds) || !Number.isInteger(entries) || seeds < 1 || entries < 1) {
  process.stderr.write('usage: npm run sweep:iso -- [SEEDS (50)] [ENTRIES PER TREE (1500)]\n');
  process.exit(2);
}
async function sweep(): Promise<number> {
  let failed = 0;
  for (let seed = 1000; seed < 1000 + seeds; seed++) {
    const dir = mkdtempSync(join(tmpdir(), 'iso-sweep-'));
    try {
      const root = join(dir, 'tree');
      mkdirSync(root);
      const shape = makeTree(root, seed, { entries, hugeDirectory: seed % 10 === 0 ? 20_500 : 0 });
      const iso = join(dir, 'tree.iso');
      await writeIso(root, iso, { volumeId: `SWEEP ${seed}`, sourceDateEpoch: 2_000_000_000 });
      const found = await readBackDifferences(iso, root);
      if (found.length > 0) failed++;
      process.stdout.write(
        `seed ${seed}: ${shape.files} files, ${shape.directories} directories: ${found.length === 0 ? 'ok' : `FAILED\n  ${found.slice(0, 5).join('\n  ')}`}\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return failed;
}

void sweep().then((failed) => {
  process.stdout.write(`${seeds - failed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
});
