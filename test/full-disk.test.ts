// Full disks, for every writer of large files: the ISO, its extraction, store blobs (image
// layers), downloaded packages, downloads of unknown size (spec sources) and the offline
// archive. Each runs on a small tmpfs of its own (mounted here: the tests run as root, as CI
// does) or under a file size limit (`ulimit -f`, which makes the kernel refuse writes with EFBIG
// midway). Each must give one line naming what it writes and where, leave nothing partial, and
// keep only the bytes of a download that the next run resumes from.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeBlobArchive } from '../buildchain/store/archive.ts';
import { BlobStore, ingestRetrying } from '../buildchain/store/blob-store.ts';
import { rangeSource } from '../buildchain/http.ts';
import { fetchPackages } from '../buildchain/rpm/workspace.ts';
import type { YumRepository } from '../buildchain/rpm/repository.ts';
import { writeIso } from '../buildchain/iso9660/writer.ts';
import { PROJECT_ROOT, runCli, tempDir } from './helpers.ts';
import { imageOf, pushImage, randomLayer, startRegistry } from './registry.ts';
import { buildTestRpms } from './rpm-fixtures.ts';
import { startNginx } from './servers-for-tests.ts';

const mounted: string[] = [];
afterEach(() => {
  for (const dir of mounted.splice(0)) {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A tmpfs of `bytes`, unmounted after the test. */
function smallDisk(bytes: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'full-disk-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) throw new Error(`mounting a tmpfs needs root (CI runs as root): ${mount.stderr.trim()}`);
  mounted.push(dir);
  return dir;
}

/** Regular files under `dir` (an empty directory left behind is no partial file). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** A tree of `megabytes` MiB of random data in a few files. */
function bigTree(megabytes: number): string {
  const tree = join(tempDir('full-disk-tree-'), 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  for (let i = 0; i < megabytes; i++) writeFileSync(join(tree, 'sub', `part-${i}`), randomBytes(1 << 20));
  return tree;
}

/** The toolkit under a file size limit: the kernel refuses writes past it with EFBIG. */
function toolkitLimited(kib: number, args: string[]): { status: number | null; stderr: string } {
  const command = `trap '' XFSZ; ulimit -f ${kib}; exec "$0" "$@"`;
  const run = spawnSync('bash', ['-c', command, join(PROJECT_ROOT, 'toolkit.ts'), ...args], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr).toMatch(pattern);
  expect(stderr.trim().split('\n'), stderr).toHaveLength(1);
}

describe('the ISO writer on a full disk', () => {
  it('refuses before writing when the image does not fit, naming the room it needs', async () => {
    const disk = smallDisk(2 << 20);
    const run = await runCli(['iso', 'create', bigTree(3), '-o', join(disk, 'out.iso')], { entry: 'toolkit.ts' });
    expect(run.code).toBe(1);
    expectOneLine(run.stderr, new RegExp(`out\\.iso: needs 3\\.\\d\\d MiB, 2\\.00 MiB free on ${disk}`));
    expect(filesUnder(disk)).toEqual([]);
  });

  it('removes its temporary file when a write fails midway', () => {
    const out = tempDir('full-disk-out-');
    const run = toolkitLimited(1024, ['iso', 'create', bigTree(3), '-o', join(out, 'out.iso')]);
    expect(run.status).toBe(1);
    expectOneLine(run.stderr, /out\.iso: cannot write \(file too large for this file system\)/);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('ISO extraction on a full disk', () => {
  it('refuses before writing, and leaves nothing when a write fails midway', async () => {
    const iso = join(tempDir('full-disk-iso-'), 'x.iso');
    await writeIso(bigTree(3), iso, { volumeId: 'X' });
    const disk = smallDisk(2 << 20);
    const refused = await runCli(['iso', 'extract', iso, join(disk, 'dest')], { entry: 'toolkit.ts' });
    expect(refused.code).toBe(1);
    expectOneLine(refused.stderr, /dest: needs 3\.00 MiB, 2\.00 MiB free on /);
    expect(readdirSync(disk)).toEqual([]);

    const out = tempDir('full-disk-out-');
    const failed = toolkitLimited(512, ['iso', 'extract', iso, join(out, 'dest')]);
    expect(failed.status).toBe(1);
    expectOneLine(failed.stderr, /dest: cannot write \(file too large for this file system\)/);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('the blob store on a full disk', () => {
  it('refuses an image layer larger than the room left before downloading it', async () => {
    const registry = await startRegistry();
    const host = registry.host;
    const digest = await pushImage(host, 'big', '1.0', imageOf([await randomLayer('layer', 3 << 20)]));
    const disk = smallDisk(2 << 20);
    const run = await runCli(
      ['image', 'pull', `${host}/big@${digest}`, join(tempDir('full-disk-layout-'), 'big'), '--cache', disk],
      { entry: 'toolkit.ts' },
    );
    expect(run.code).toBe(1);
    expectOneLine(run.stderr, new RegExp(`needs 3\\.\\d\\d MiB, \\d\\.\\d\\d MiB free on ${disk}`));
    expect(filesUnder(disk).filter((file) => !file.includes('/blobs/sha256/'))).toEqual([]); // the manifest and config may be stored
  });

  it('refuses a package larger than the room left, and resumes a download of unknown size the disk cut short', async () => {
    const root = tempDir('full-disk-repo-');
    const [rpm] = await buildTestRpms(join(root, 'work'), join(root, 'repo'), [
      { name: 'big', version: '1.0', arch: 'noarch' },
    ]);
    writeFileSync(join(root, 'repo', 'source.tar'), randomBytes(600 << 10));
    const nginx = await startNginx(`root ${join(root, 'repo')};`);
    const disk = smallDisk(1 << 20);
    const store = new BlobStore(join(disk, 'cache'));
    const signal = new AbortController().signal;

    // A package: its size is in the lock, so a disk without room refuses it before downloading.
    mkdirSync(join(disk, 'cache'));
    const free = (): number =>
      Number(execFileSync('df', ['--output=avail', '-B1', disk], { encoding: 'utf8' }).split('\n')[1]!.trim());
    writeFileSync(join(disk, 'filler'), Buffer.alloc(free() - 4096));
    const rpmPath = join(root, 'repo', rpm!);
    const rpmBytes = statSync(rpmPath).size;
    const pkg = {
      name: 'big',
      epoch: '0',
      version: '1.0',
      release: '1',
      arch: 'noarch',
      repo: 'test',
      location: rpm!,
      size: rpmBytes,
      digest: `sha256:${createHash('sha256')
        .update(execFileSync('cat', [rpmPath]))
        .digest('hex')}`,
    };
    const repository = { url: (location: string) => `http://${nginx.host}/${location}` } as unknown as YumRepository;
    await expect(fetchPackages(store, [pkg], () => repository, { jobs: 1, signal })).rejects.toThrow(
      /needs .* MiB, 0\.00 MiB free on /,
    );
    expect(filesUnder(join(disk, 'cache'))).toEqual([]);

    // A spec source: no size is known, the disk fills midway; what arrived is kept and resumed.
    rmSync(join(disk, 'filler'));
    writeFileSync(join(disk, 'filler'), Buffer.alloc(free() - (256 << 10)));
    const body = execFileSync('cat', [join(root, 'repo', 'source.tar')]);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const url = `http://${nginx.host}/source.tar`;
    const fetch = (): Promise<number> =>
      ingestRetrying(store, digest, rangeSource(url, signal, 'source'), { signal, describe: () => `${url} (source)` });
    await expect(fetch()).rejects.toThrow(
      new RegExp(
        `${disk}/cache \\(${url.replace(/\./g, '\\.')} \\(source\\)\\): cannot write \\(no space left on device\\); the 0\\.\\d\\d MiB received are kept, and the next run resumes from them`,
      ),
    );
    const kept = filesUnder(join(disk, 'cache'));
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/ingest\/[a-f0-9]{64}\.partial$/);
    const keptBytes = statSync(kept[0]!).size;
    expect(keptBytes).toBeGreaterThan(0);
    rmSync(join(disk, 'filler'));
    expect(await fetch()).toBe(body.length - keptBytes); // only the rest was asked for
    expect(await store.has(digest, body.length)).toBe(true);
  });
});

describe('the offline archive on a full disk', () => {
  it('refuses before writing, naming the archive and the room it needs', async () => {
    const store = new BlobStore(join(tempDir('full-disk-store-'), 'cache'));
    const blob = randomBytes(3 << 20);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    await store.put(digest, blob, 'test blob');
    const disk = smallDisk(2 << 20);
    await expect(
      writeBlobArchive(store, [digest], new Map([['packages.lock.json', '{}']]), join(disk, 'offline-inputs.tar')),
    ).rejects.toThrow(new RegExp(`offline-inputs\\.tar: needs 3\\.00 MiB, 2\\.00 MiB free on ${disk}`));
    expect(readdirSync(disk)).toEqual([]);
  });
});
