import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { requireTool, tempDir } from '../../test/helpers.ts';
import { productRepo } from '../../test/product-repo.ts';
import { crafted, failure } from '../../test/hostile-servers.ts';
import { BuildError } from '../errors.ts';
import { fetchSource, gitTimeoutArgs, probeSource, unpackSource, type GitSource } from './git.ts';
import { BlobStore } from '../store/blob-store.ts';

const signal = new AbortController().signal;
const git = () => requireTool('git');

/** The block `git archive` starts with: a pax global header whose comment is the commit. */
function paxGlobalHeader(commit: string): Buffer {
  const data = Buffer.from(`52 comment=${commit}\n`);
  const header = Buffer.alloc(512);
  const field = (offset: number, text: string) => header.write(text, offset, 'latin1');
  field(0, 'pax_global_header');
  field(100, '0000666\0');
  field(108, '0000000\0');
  field(116, '0000000\0');
  field(124, `${data.length.toString(8).padStart(11, '0')}\0`);
  field(136, '00000000000\0');
  field(148, '        ');
  field(156, 'g');
  field(257, 'ustar\0');
  field(263, '00');
  field(
    148,
    `${header
      .reduce((sum, byte) => sum + byte, 0)
      .toString(8)
      .padStart(6, '0')}\0 `,
  );
  return Buffer.concat([header, data, Buffer.alloc(512 - data.length)]);
}

type Entry = {
  name: string;
  type?: 'file' | 'symlink' | 'directory' | 'character-device';
  linkname?: string;
  body?: string;
};

/** A tar as `git archive` writes it (its first block naming `commit`), holding `entries`. */
async function archive(commit: string, entries: Entry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [paxGlobalHeader(commit)];
  tar.on('data', (chunk) => chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  for (const entry of entries) {
    const header = {
      name: entry.name,
      type: entry.type ?? 'file',
      ...(entry.linkname ? { linkname: entry.linkname } : {}),
    };
    if (header.type === 'file') tar.entry(header, entry.body ?? '');
    else tar.entry(header, () => undefined);
  }
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function storeArchive(store: BlobStore, bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await store.put(digest, bytes, 'test archive');
  return digest;
}

describe('a source pinned by commit', () => {
  it(
    'fetches only that commit, stores its git archive, and unpacks the same tree git checks out',
    { timeout: 30_000 },
    async () => {
      const repo = productRepo();
      const first = repo.commit({ 'bin/run.sh': '#!/bin/sh\n' }, 'first');
      const second = repo.commit({ 'docs/a.md': 'a\n' }, 'second');
      const store = new BlobStore(join(tempDir(), 'cache'));
      const source: GitSource = { name: 'metalk8s', url: repo.dir, commit: first, setting: 'METALK8S_SOURCE' };
      const gitDir = join(store.root, 'git', 'metalk8s.git');
      const record = await fetchSource(store, source, { git: git(), gitDir, signal });
      expect(record.commit).toBe(first);
      expect(await store.has(record.archive)).toBe(true);
      // Only the pinned commit came: not the later one.
      expect(() =>
        execFileSync(git(), ['-C', gitDir, 'cat-file', '-e', `${second}^{commit}`], { stdio: 'ignore' }),
      ).toThrow();
      const tree = join(tempDir(), 'tree');
      const files = await unpackSource(store, record, tree, 'the test source');
      const checkout = tempDir();
      execFileSync(git(), ['-C', repo.dir, 'worktree', 'add', '--quiet', '--detach', checkout, first]);
      const listing = (dir: string) =>
        (readdirSync(dir, { recursive: true }) as string[]).filter((path) => !path.startsWith('.git')).sort();
      expect(listing(tree)).toEqual(listing(checkout));
      expect(files).toBe(listing(checkout).filter((path) => statSync(join(checkout, path)).isFile()).length);
      expect(statSync(join(tree, 'bin/run.sh')).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(tree, 'salt/top.sls.in'), 'utf8')).toBe(
        readFileSync(join(checkout, 'salt/top.sls.in'), 'utf8'),
      );
      // Fetched again: same archive bytes (git archive is deterministic for a commit).
      expect((await fetchSource(store, source, { git: git(), gitDir, signal })).archive).toBe(record.archive);
    },
  );

  it('answers why a source cannot be reached, within the time given', async () => {
    const started = Date.now();
    expect(
      await probeSource(git(), { name: 'x', url: 'http://127.0.0.1:9/x.git', commit: '0'.repeat(40), setting: 'X' }),
    ).toMatch(/127\.0\.0\.1.*connect/i);
    expect(
      await probeSource(git(), { name: 'x', url: join(tempDir(), 'none'), commit: '0'.repeat(40), setting: 'X' }),
    ).toMatch(/does not appear to be a git repository|not found/i);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  describe('a hostile git server over http, in one line naming the URL', () => {
    const source = (origin: string): GitSource => ({
      name: 'x',
      url: `${origin}/x.git`,
      commit: 'ab'.repeat(20),
      setting: 'METALK8S_SOURCE',
    });
    const timeouts = { connectMs: 30_000, headerMs: 1000, idleMs: 1000 };
    const fetchFrom = (origin: string) =>
      failure(
        fetchSource(new BlobStore(tempDir()), source(origin), {
          git: git(),
          gitDir: join(tempDir(), 'x.git'),
          signal,
          timeouts,
        }),
      );

    it('gives up on a server that accepts and sends nothing, within the HTTP timeouts', async () => {
      const server = await crafted(() => undefined);
      const error = await fetchFrom(server.origin);
      expect(error).toBeInstanceOf(BuildError);
      expect(error.message).toMatch(
        new RegExp(
          `^${server.origin}/x\\.git \\(METALK8S_SOURCE\\): git fetch failed: fatal: unable to access '${server.origin}/x\\.git/': Operation too slow`,
        ),
      );
      expect(error.message).not.toContain('\n');
    });

    it('refuses an answer that is not git', async () => {
      const server = await crafted((_request, response) => response.writeHead(200).end('<html>a login page</html>\n'));
      const error = await fetchFrom(server.origin);
      expect(error).toBeInstanceOf(BuildError);
      expect(error.message.startsWith(`${server.origin}/x.git (METALK8S_SOURCE): git fetch failed: `)).toBe(true);
      expect(error.message).not.toContain('\n');
    });

    it('passes the timeouts to git as its low speed limit, in whole seconds', () => {
      expect(gitTimeoutArgs({ connectMs: 30_000, headerMs: 60_000, idleMs: 90_500 })).toEqual([
        '-c',
        'http.lowSpeedLimit=1',
        '-c',
        'http.lowSpeedTime=91',
      ]);
    });
  });

  describe('refuses a hostile or mislabelled archive, leaving nothing', () => {
    const commit = 'c0ffee'.repeat(6) + 'c0ff';
    const cases: [string, Entry[], RegExp][] = [
      [
        'a file under a symlink it made',
        [
          { name: 'aaaa', type: 'symlink', linkname: '/tmp' },
          { name: 'aaaa/evil', body: 'x' },
        ],
        /entry "aaaa\/evil" lies under a symlink/,
      ],
      ['a path leaving the tree', [{ name: '../evil', body: 'x' }], /entry "\.\.\/evil" points outside the tree/],
      ['an absolute path', [{ name: '/etc/evil', body: 'x' }], /entry "\/etc\/evil" points outside the tree/],
      [
        'a device',
        [{ name: 'dev', type: 'character-device' }],
        /entry "dev" is a character-device, not a file, directory or symlink/,
      ],
      [
        'a file given twice',
        [
          { name: 'a', body: 'x' },
          { name: 'a', body: 'y' },
        ],
        /EEXIST/,
      ],
    ];
    for (const [what, entries, error] of cases) {
      it(what, async () => {
        const store = new BlobStore(join(tempDir(), 'cache'));
        const record = { commit, archive: await storeArchive(store, await archive(commit, entries)) };
        const parent = tempDir();
        await expect(unpackSource(store, record, join(parent, 'tree'), 'the test source')).rejects.toThrow(error);
        expect(readdirSync(parent)).toEqual([]);
        expect(existsSync('/tmp/evil')).toBe(false);
      });
    }
    it('an archive of another commit', async () => {
      const store = new BlobStore(join(tempDir(), 'cache'));
      const record = {
        commit,
        archive: await storeArchive(store, await archive('1'.repeat(40), [{ name: 'a', body: 'x' }])),
      };
      const dir = join(tempDir(), 'tree');
      mkdirSync(dir);
      writeFileSync(join(dir, 'kept'), 'earlier tree\n');
      await expect(unpackSource(store, record, dir, 'the test source')).rejects.toThrow(
        `the test source: archive ${record.archive}: holds the tree of commit ${'1'.repeat(40)}, not of ${commit}`,
      );
      expect(readFileSync(join(dir, 'kept'), 'utf8')).toBe('earlier tree\n');
    });
  });
});

describe('the describe of a fetched commit (product.txt GIT)', () => {
  it('names the tag on the commit, lightweight or annotated, fetched with it; else the abbreviated id', async () => {
    const repo = productRepo();
    const annotated = repo.head;
    repo.tag('2.4.1');
    const lightweight = repo.commit({ 'README.md': 'next\n' }, 'next');
    execFileSync(git(), ['-C', repo.dir, 'tag', '2.4.2-rc1']);
    const untagged = repo.commit({ 'README.md': 'later\n' }, 'later');
    const store = new BlobStore(join(tempDir(), 'cache'));
    const describeOf = async (commit: string) =>
      (
        await fetchSource(
          store,
          { name: 'metalk8s', url: repo.dir, commit, setting: 'METALK8S_SOURCE' },
          { git: git(), gitDir: join(tempDir(), 'bare.git'), signal },
        )
      ).describe;
    expect(await describeOf(annotated)).toMatch(new RegExp(`^2\\.4\\.1-0-g${annotated.slice(0, 7)}[0-9a-f]*$`));
    expect(await describeOf(lightweight)).toMatch(new RegExp(`^2\\.4\\.2-rc1-0-g${lightweight.slice(0, 7)}[0-9a-f]*$`));
    expect(await describeOf(untagged)).toMatch(new RegExp(`^${untagged.slice(0, 7)}[0-9a-f]*$`));
  });
});
