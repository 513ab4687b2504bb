// The ISO writer proven by the tools that read ISOs in the field: xorriso/osirrox, isoinfo
// (genisoimage) and bsdtar (libarchive), and by our own reader.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, requireTool, runCli, tempDir } from '../../test/helpers.ts';
import { IsoReader } from './reader.ts';
import { writeIso } from './writer.ts';

interface Seen {
  type: string;
  size?: number;
  mode?: number;
  target?: string;
  sha256?: string;
}

/** What a tree holds: path -> type, size, permission bits, symlink target, content digest. */
function describeTree(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const visit = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const stats = lstatSync(join(root, path));
      if (stats.isSymbolicLink()) out.set(path, { type: 'symlink', target: readlinkSync(join(root, path)) });
      else if (stats.isDirectory()) {
        out.set(path, { type: 'directory', mode: stats.mode & 0o7777 });
        visit(path);
      } else {
        const sha256 = createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex');
        out.set(path, { type: 'file', size: stats.size, mode: stats.mode & 0o7777, sha256 });
      }
    }
  };
  visit('');
  return out;
}

const LONG = 'a-very-long-file-name-that-goes-on-and-on-'.repeat(4) + 'end.tar.gz';
const DEEP = Array.from({ length: 12 }, (_, i) => `level${i}`).join('/');

/** A tree like the ISO's: many small files, a few big ones hard-linked as image layers are, and the odd cases. */
function makeTree(root: string): void {
  const put = (path: string, content: string | Buffer, mode = 0o644): void => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
    chmodSync(join(root, path), mode);
  };
  for (let i = 0; i < 300; i++)
    put(`salt/metalk8s/state-${String(i).padStart(3, '0')}.sls`, `state ${i}\n`.repeat(i % 7));
  const layer = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < layer.length; i++) layer[i] = (i * 2654435761) >>> 24;
  put('images/pause/3.1/0123abcd', layer);
  mkdirSync(join(root, 'images/pause/3.1-bis'), { recursive: true });
  linkSync(join(root, 'images/pause/3.1/0123abcd'), join(root, 'images/pause/3.1-bis/0123abcd'));
  mkdirSync(join(root, 'images/other/1.0'), { recursive: true });
  linkSync(join(root, 'images/pause/3.1/0123abcd'), join(root, 'images/other/1.0/0123abcd'));
  put('bootstrap.sh', '#!/bin/bash\necho bootstrap\n', 0o755);
  put('empty-file', '');
  mkdirSync(join(root, 'empty-dir'));
  put(`long/${LONG}`, 'long name\n');
  put('unicode/été-日本語-🚀.txt', 'non-ascii\n');
  put('unicode/Ñandú/naïve.yaml', 'x: 1\n');
  put('names/weird name; with: chars?.txt', 'weird\n');
  put('names/UPPER.txt', 'upper\n');
  put('names/upper.txt', 'lower\n');
  put(`${DEEP}/deep-file.txt`, 'deep\n');
  symlinkSync('../bootstrap.sh', join(root, 'names/link-to-bootstrap'));
  symlinkSync('/etc/metalk8s/bootstrap.yaml', join(root, 'names/absolute-link'));
  symlinkSync(`${'x'.repeat(200)}/${'y'.repeat(300)}/z`, join(root, 'names/long-link'));
  chmodSync(join(root, 'empty-dir'), 0o750);
}

describe('ISO writer, read back by real tools', () => {
  let source: string;
  let iso: string;
  let expected: Map<string, Seen>;

  let shared: string;

  beforeAll(async () => {
    shared = mkdtempSync(join(tmpdir(), 'iso-suite-'));
    source = join(shared, 'source');
    mkdirSync(source);
    makeTree(source);
    expected = describeTree(source);
    iso = join(shared, 'test.iso');
    await writeIso(source, iso, { volumeId: 'MetalK8s 2.4.1-dev', sourceDateEpoch: 1_700_000_000 });
  });

  afterAll(() => rmSync(shared, { recursive: true, force: true }));

  it('is recognised by isoinfo: volume id, Rock Ridge, Joliet', () => {
    const isoinfo = requireTool('isoinfo');
    const d = execFileSync(isoinfo, ['-d', '-i', iso], { encoding: 'utf8' });
    expect(d).toContain('Volume id: MetalK8s 2.4.1-dev');
    expect(d).toMatch(/Rock Ridge signatures version 1 found/);
    expect(d).toMatch(/Joliet with UCS level 3 found/);
  });

  it('lists the same names and sizes with isoinfo -R and, for names Joliet can hold, isoinfo -J', () => {
    const isoinfo = requireTool('isoinfo');
    const names = (flag: string): Set<string> => {
      const listing = execFileSync(isoinfo, [flag, '-l', '-i', iso], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const found = new Set<string>();
      let dir = '';
      for (const line of listing.split('\n')) {
        const header = /^Directory listing of (.*)$/.exec(line);
        if (header) dir = header[1]!.replace(/^\//, '');
        const entry = /^[-dl][-rwxsStT]{9}\s.*?\]\s+(.+?)\s*$/.exec(line);
        if (entry && entry[1] !== '.' && entry[1] !== '..') found.add(`${dir}${entry[1]!.replace(/ -> .*$/, '')}`);
      }
      return found;
    };
    const rock = names('-R');
    expect([...rock].sort()).toEqual([...expected.keys()].sort());
    const joliet = names('-J');
    for (const path of expected.keys()) {
      // isoinfo prints non-ASCII Joliet names through its own charset conversion: ASCII ones only.
      if (/^[\x20-\x7e]+$/.test(path) && path.split('/').every((part) => part.length <= 64 && !/[;:?]/.test(part)))
        expect(joliet.has(path), path).toBe(true);
    }
  });

  it('extracts identically with osirrox (xorriso) and bsdtar, and with our reader', async () => {
    const xorriso = requireTool('xorriso');
    const bsdtar = requireTool('bsdtar');
    const byXorriso = tempDir('iso-x-');
    execFileSync(xorriso, ['-osirrox', 'on', '-indev', iso, '-extract', '/', byXorriso], { stdio: 'pipe' });
    expect(describeTree(byXorriso)).toEqual(expected);

    const byBsdtar = tempDir('iso-b-');
    execFileSync(bsdtar, ['-xf', iso, '-C', byBsdtar], { stdio: 'pipe' });
    expect(describeTree(byBsdtar)).toEqual(expected);

    const byUs = tempDir('iso-r-');
    const reader = await IsoReader.open(iso);
    await reader.extract(byUs);
    await reader.close();
    expect(describeTree(byUs)).toEqual(expected);
  });

  it('lists with bsdtar -tv the same names, and symlink targets', () => {
    const listing = execFileSync(requireTool('bsdtar'), ['-tvf', iso], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const paths = new Set(
      listing
        .split('\n')
        .filter(Boolean)
        .map((line) =>
          line
            .replace(/^(\S+\s+){8}/, '')
            .replace(/ -> .*$/, '')
            .replace(/ link to .*$/, '')
            .replace(/\/$/, ''),
        )
        .filter((path) => path !== '.'),
    );
    expect([...paths].sort()).toEqual([...expected.keys()].sort());
    expect(listing).toContain('names/absolute-link -> /etc/metalk8s/bootstrap.yaml');
  });

  it('stores hard-linked files once: one extent for the three names', async () => {
    const reader = await IsoReader.open(iso);
    const { entries } = await reader.list();
    await reader.close();
    const layers = entries.filter((e) => e.path.endsWith('/0123abcd'));
    expect(layers).toHaveLength(3);
    expect(new Set(layers.map((e) => JSON.stringify(e.extents))).size).toBe(1);
    const report = execFileSync(
      requireTool('xorriso'),
      ['-indev', iso, '-find', '/images', '-type', 'f', '-exec', 'report_lba'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lbas = new Set([...report.matchAll(/File data lba:\s+\d+\s*,\s*(\d+)/g)].map((m) => m[1]));
    expect(lbas.size).toBe(1);
  });

  it('is byte-identical when built twice from the same tree and SOURCE_DATE_EPOCH', async () => {
    const again = join(tempDir('iso-again-'), 'again.iso');
    const first = await writeIso(source, again, { volumeId: 'MetalK8s 2.4.1-dev', sourceDateEpoch: 1_700_000_000 });
    expect(createHash('sha256').update(readFileSync(iso)).digest('hex')).toBe(first.sha256);
    expect(createHash('sha256').update(readFileSync(again)).digest('hex')).toBe(first.sha256);
  });

  it('fails clearly on bad input and leaves no partial ISO', async () => {
    const out = join(tempDir('iso-bad-'), 'bad.iso');
    await expect(writeIso(join(source, 'nowhere'), out, { volumeId: 'X' })).rejects.toThrow(/nowhere: cannot read/);
    await expect(writeIso(source, out, { volumeId: 'x'.repeat(33) })).rejects.toThrow(/at most 32/);
    const unreadable = tempDir('iso-unreadable-');
    writeFileSync(join(unreadable, 'secret'), 'x');
    chmodSync(join(unreadable, 'secret'), 0o000);
    if (process.getuid?.() !== 0)
      await expect(writeIso(unreadable, out, { volumeId: 'X' })).rejects.toThrow(/secret: cannot read/);
    const badName = tempDir('iso-badname-');
    writeFileSync(Buffer.concat([Buffer.from(`${badName}/`), Buffer.from([0x66, 0xff, 0x66])]), 'x');
    await expect(writeIso(badName, out, { volumeId: 'X' })).rejects.toThrow(/is not valid UTF-8/);
    expect(spawnSync('ls', [join(out, '..')], { encoding: 'utf8' }).stdout.trim()).toBe('');
  });
});

describe('./toolkit.ts iso create', () => {
  it('loads no package from node_modules: each one stays in memory for the whole of a large tree', async () => {
    const dir = tempDir('iso-loads-');
    const preload = join(dir, 'loaded.cjs');
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'loaded.json'))}, ` +
        'JSON.stringify(Object.keys(require.cache))));\n',
    );
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree', 'file'), 'x');
    // Twice: the first run may load esbuild to bundle the toolkit, as a first run after a change does.
    for (const out of ['first.iso', 'second.iso']) {
      const said = await runCli(['iso', 'create', join(dir, 'tree'), '-o', join(dir, out)], {
        entry: 'toolkit.ts',
        env: { NODE_OPTIONS: `--require ${preload}` },
      });
      expect(said.stderr).toBe('');
    }
    const loaded: string[] = JSON.parse(readFileSync(join(dir, 'loaded.json'), 'utf8'));
    expect(loaded.some((file) => file.includes('/node_modules/.cache/metalk8s/toolkit'))).toBe(true);
    expect(loaded.filter((file) => file.includes('/node_modules/') && !file.includes('/node_modules/.cache/'))).toEqual(
      [],
    );
  });

  it(
    'shows a live progress line on a terminal for a long write, and nothing when piped',
    { timeout: 180_000 },
    async () => {
      const dir = tempDir('iso-progress-');
      mkdirSync(join(dir, 'tree'));
      // Sparse: cheap to make and read, but 1 GiB for the writer to write and sync, which takes seconds.
      writeFileSync(join(dir, 'tree', 'big'), '');
      truncateSync(join(dir, 'tree', 'big'), 1024 ** 3);
      const iso = join(dir, 'out.iso');
      const command = `stty rows 24 cols 120; ${join(PROJECT_ROOT, 'toolkit.ts')} iso create ${join(dir, 'tree')} -o ${iso}`;
      // script(1) gives the toolkit a pseudo-terminal, sized as an interactive terminal would be.
      const terminal = spawnSync(requireTool('script'), ['-qec', command, '/dev/null'], { encoding: 'utf8' });
      expect(terminal.status).toBe(0);
      expect(terminal.stdout).toMatch(/out\.iso: \d+\.\d MiB \/ 1\.0 GiB \(\d+%\), \d+\.\d [KMG]iB\/s/);
      expect(terminal.stdout).toContain('\x1b[');
      const sha256 = /([0-9a-f]{64}) {2}\S+out\.iso/.exec(terminal.stdout)?.[1];
      rmSync(iso);
      const piped = await runCli(['iso', 'create', join(dir, 'tree'), '-o', iso], { entry: 'toolkit.ts' });
      expect(piped.code).toBe(0);
      expect(piped.stderr).toBe('');
      // Exactly the summary line: no progress, no escape code.
      expect(piped.stdout).toBe(`${sha256}  ${iso}\n`);
      rmSync(iso);
    },
  );
});

describe('reading images from other writers', () => {
  it('takes Joliet names when there is no Rock Ridge, and ISO 9660 names when there is neither', async () => {
    const genisoimage = requireTool('genisoimage');
    const dir = tempDir('iso-other-');
    mkdirSync(join(dir, 'tree/Mixed Case Dir'), { recursive: true });
    writeFileSync(join(dir, 'tree/Mixed Case Dir/a-rather-long-file-name.yaml'), 'x: 1\n');
    writeFileSync(join(dir, 'tree/product.txt'), 'NAME=Example\n');
    const listing = async (flags: string[]): Promise<string[]> => {
      const iso = join(dir, `${flags.join('') || 'plain'}.iso`);
      execFileSync(genisoimage, ['-quiet', ...flags, '-o', iso, join(dir, 'tree')]);
      const reader = await IsoReader.open(iso);
      const info = await reader.list();
      await reader.close();
      expect(info.rockRidge).toBe(false);
      return info.entries.map((e) => `${e.type} ${e.path} ${e.size}`).sort();
    };
    expect(await listing(['-J', '-joliet-long'])).toEqual([
      'directory Mixed Case Dir 0',
      'file Mixed Case Dir/a-rather-long-file-name.yaml 5',
      'file product.txt 13',
    ]);
    const plain = await listing([]);
    expect(plain).toContain('file PRODUCT.TXT 13');
    expect(plain.some((line) => /^file MIXED_CA\w*\/A_RATHER\.YAM 5$/.test(line))).toBe(true);
  });
});

describe('files of 4 GiB or more', () => {
  it('are stored with multi-extent records that bsdtar, xorriso and our reader read back whole', async () => {
    const dir = tempDir('iso-big-');
    mkdirSync(join(dir, 'tree'));
    const big = join(dir, 'tree', 'layer.tar');
    const size = 4 * 1024 ** 3 + 5;
    // Sparse, with markers where the extents meet: cheap on disk, exact on the bytes that matter.
    const { openSync, writeSync, closeSync, ftruncateSync } = await import('node:fs');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, size);
    for (const [at, text] of [
      [0, 'start'],
      [0xfffff800 - 3, 'edge-of-first-extent'],
      [size - 5, 'tail!'],
    ] as const)
      writeSync(fd, Buffer.from(text), 0, text.length, at);
    closeSync(fd);
    const iso = join(dir, 'big.iso');
    const { sha256 } = await writeIso(join(dir, 'tree'), iso, { volumeId: 'BIG', sourceDateEpoch: 1_700_000_000 });
    const isoDigest = createHash('sha256');
    for await (const chunk of (await import('node:fs')).createReadStream(iso, { highWaterMark: 8 << 20 }))
      isoDigest.update(chunk as Buffer);
    expect(sha256).toBe(isoDigest.digest('hex')); // the digest computed while writing, by the worker

    const reader = await IsoReader.open(iso);
    const { entries } = await reader.list();
    const layer = entries.find((e) => e.path === 'layer.tar')!;
    expect(layer.size).toBe(size);
    expect(layer.extents.length).toBe(2);
    await reader.close();

    const digest = async (command: string, args: string[]): Promise<string> => {
      const hash = createHash('sha256');
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      for await (const chunk of child.stdout) hash.update(chunk as Buffer);
      return hash.digest('hex');
    };
    const sourceDigest = createHash('sha256');
    for await (const chunk of (await import('node:fs')).createReadStream(big, { highWaterMark: 8 << 20 }))
      sourceDigest.update(chunk as Buffer);
    const expectedDigest = sourceDigest.digest('hex');
    expect(await digest(requireTool('bsdtar'), ['-xOf', iso, 'layer.tar'])).toBe(expectedDigest);
    const lsdl = execFileSync(requireTool('xorriso'), ['-indev', iso, '-lsdl', '/layer.tar'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(lsdl).toContain(String(size));
  }, 300_000);
});
