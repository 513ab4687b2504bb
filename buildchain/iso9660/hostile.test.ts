// Crafted images against the reader: each is made by writing a small tree with our writer, then
// patching the bytes a hostile image would change (a Rock Ridge name, a record's extent or
// size). `./toolkit.ts iso extract` and `iso ls` must refuse each with one line naming the
// image, no stack trace, nothing left in or beside the destination, nothing written elsewhere.
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../../test/helpers.ts';
import { SECTOR } from './ecma119.ts';
import { writeIso } from './writer.ts';

/** The offset of `needle` in `image`, which must hold it exactly once. */
function findOnce(image: Buffer, needle: Buffer, what: string): number {
  const at = image.indexOf(needle);
  if (at < 0 || image.indexOf(needle, at + 1) >= 0) throw new Error(`${what}: expected once in the image`);
  return at;
}

/** Replaces the Rock Ridge name `from` by `to` (same byte length) in its NM entry. */
function renameEntry(image: Buffer, from: string, to: string): void {
  const nm = (name: string): Buffer =>
    Buffer.concat([Buffer.from('NM', 'latin1'), Buffer.from([5 + Buffer.byteLength(name), 1, 0]), Buffer.from(name)]);
  nm(to).copy(image, findOnce(image, nm(from), `NM ${from}`));
}

/** The primary directory record whose ISO 9660 identifier is `identifier`. */
function recordOf(image: Buffer, identifier: string): number {
  return (
    findOnce(image, Buffer.concat([Buffer.from([identifier.length]), Buffer.from(identifier, 'latin1')]), identifier) -
    32
  );
}

function setExtent(image: Buffer, record: number, extent: number, size: number): void {
  image.writeUInt32LE(extent, record + 2);
  image.writeUInt32BE(extent, record + 6);
  image.writeUInt32LE(size, record + 10);
  image.writeUInt32BE(size, record + 14);
}

const ROOT_RECORD = 16 * SECTOR + 156;

interface Case {
  name: string;
  tree: (root: string, outside: string) => void;
  patch: (image: Buffer) => void;
  error: RegExp;
}

const CASES: Case[] = [
  {
    name: 'duplicate names in a directory',
    tree: (root) => {
      writeFileSync(join(root, 'aaaa'), 'first\n');
      writeFileSync(join(root, 'bbbb'), 'second\n');
    },
    patch: (image) => renameEntry(image, 'bbbb', 'aaaa'),
    error: /the name 'aaaa' appears twice in \//,
  },
  {
    name: 'a symlink out of the destination, then a directory of the same name',
    tree: (root, outside) => {
      symlinkSync(outside, join(root, 'aaaa'));
      mkdirSync(join(root, 'bbbb'));
      writeFileSync(join(root, 'bbbb', 'planted'), 'must not land outside\n');
    },
    patch: (image) => renameEntry(image, 'bbbb', 'aaaa'),
    error: /the name 'aaaa' appears twice in \//,
  },
  {
    name: "'..' as a name",
    tree: (root) => {
      mkdirSync(join(root, 'zz'));
      writeFileSync(join(root, 'zz', 'escape'), 'x\n');
    },
    patch: (image) => renameEntry(image, 'zz', '..'),
    error: /invalid name "\.\." in \//,
  },
  {
    name: "a name with '/'",
    tree: (root) => writeFileSync(join(root, 'abcdef'), 'x\n'),
    patch: (image) => renameEntry(image, 'abcdef', '../etc'),
    error: /invalid name "\.\.\/etc" in \//,
  },
  {
    name: 'a directory loop',
    tree: (root) => mkdirSync(join(root, 'loop')),
    patch: (image) =>
      setExtent(
        image,
        recordOf(image, 'LOOP'),
        image.readUInt32LE(ROOT_RECORD + 2),
        image.readUInt32LE(ROOT_RECORD + 10),
      ),
    error: /directory \/loop points to the records of \/ \(a directory loop/,
  },
  {
    name: 'a file extent past the end of the image',
    tree: (root) => writeFileSync(join(root, 'data.bin'), 'x'.repeat(5000)),
    patch: (image) => setExtent(image, recordOf(image, 'DATA.BIN;1'), 0x7fffff00, 5000),
    error: /file data\.bin declares 5000 bytes at block 2147483392, past the end of the image/,
  },
  {
    name: 'an absurd declared file size',
    tree: (root) => writeFileSync(join(root, 'data.bin'), 'x'.repeat(5000)),
    patch: (image) => {
      const record = recordOf(image, 'DATA.BIN;1');
      setExtent(image, record, image.readUInt32LE(record + 2), 0xfffff000);
    },
    error: /file data\.bin declares 4294963200 bytes at block \d+, past the end of the image/,
  },
  {
    name: 'an absurd declared directory size',
    tree: (root) => mkdirSync(join(root, 'big')),
    patch: (image) => {
      const record = recordOf(image, 'BIG');
      setExtent(image, record, image.readUInt32LE(record + 2), 0x7ffff800);
    },
    error: /directory \/big declares 2147481600 bytes of records, more than 268435456/,
  },
];

describe.each(CASES)('a crafted image: $name', ({ tree, patch, error }) => {
  it('is refused by iso ls and iso extract, and nothing lands anywhere', async () => {
    const dir = tempDir('iso-hostile-');
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    const source = join(dir, 'source');
    mkdirSync(source);
    tree(source, outside);
    const iso = join(dir, 'crafted.iso');
    await writeIso(source, iso, { volumeId: 'CRAFTED', sourceDateEpoch: 1_700_000_000 });
    const image = readFileSync(iso);
    patch(image);
    writeFileSync(iso, image);

    for (const args of [
      ['iso', 'ls', iso],
      ['iso', 'extract', iso, join(dir, 'dest')],
    ]) {
      const run = await runCli(args, { entry: 'toolkit.ts' });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(error);
      expect(run.stderr).toContain(iso);
      expect(run.stderr.trim().split('\n')).toHaveLength(1); // one line, no stack trace
    }
    expect(readdirSync(dir).sort()).toEqual(['crafted.iso', 'outside', 'source']); // no dest, no staging
    expect(readdirSync(outside)).toEqual([]);
  });
});

describe('extraction', () => {
  it('creates symlinks without following them, and keeps modes and times', async () => {
    const dir = tempDir('iso-extract-');
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    const source = join(dir, 'source');
    mkdirSync(join(source, 'sub'), { recursive: true });
    symlinkSync(outside, join(source, 'sub', 'out'));
    writeFileSync(join(source, 'sub', 'file'), 'content\n', { mode: 0o640 });
    const iso = join(dir, 'x.iso');
    await writeIso(source, iso, { volumeId: 'X', sourceDateEpoch: 1_700_000_000 });
    const run = await runCli(['iso', 'extract', iso, join(dir, 'dest')], { entry: 'toolkit.ts' });
    expect(run.code, run.stderr).toBe(0);
    expect(lstatSync(join(dir, 'dest', 'sub', 'out')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'dest', 'sub', 'file')).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(dir, 'dest', 'sub', 'file'), 'utf8')).toBe('content\n');
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['dest', 'outside', 'source', 'x.iso']);
  });

  it('goes into a new or empty directory only', async () => {
    const dir = tempDir('iso-extract-');
    mkdirSync(join(dir, 'source'));
    writeFileSync(join(dir, 'source', 'f'), 'f\n');
    const iso = join(dir, 'x.iso');
    await writeIso(join(dir, 'source'), iso, { volumeId: 'X' });
    mkdirSync(join(dir, 'empty'));
    expect((await runCli(['iso', 'extract', iso, join(dir, 'empty')], { entry: 'toolkit.ts' })).code).toBe(0);
    expect(readFileSync(join(dir, 'empty', 'f'), 'utf8')).toBe('f\n');
    const again = await runCli(['iso', 'extract', iso, join(dir, 'empty')], { entry: 'toolkit.ts' });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/empty: not empty; an ISO is extracted into a new or empty directory/);
  });
});
