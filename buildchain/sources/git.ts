// A source tree pinned by commit (a product's own repository), fetched like any other input: git
// fetches that one commit once, `git archive` turns its tree into a tar that goes into the store
// under its sha256, and a record (record.ts: BUILD_ROOT/sources/<name>.json) says which archive is which
// commit. Later builds, and air-gapped ones given the record and the archive, unpack the tree from
// the store without git or network. The archive names its commit (git writes it into the tar's
// global header), and unpacking checks it against the pin.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, open, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { BuildError } from '../errors.ts';
import { replaceDirectory, tempPathFor } from '../fs/atomic.ts';
import { isDiskFailure, writeFailure } from '../fs/space.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { SourceRecord } from './record.ts';
import { runTool } from '../tools.ts';
import { hexDigest } from '../store/sha256.ts';
import { httpTimeouts, type HttpTimeouts } from '../http.ts';

export interface GitSource {
  /** Names the record and the messages: `metalk8s`. */
  name: string;
  /** A git URL or a local repository. */
  url: string;
  /** 40 hex digits. */
  commit: string;
  /** The settings that give url and commit, for messages (`METALK8S_SOURCE`). */
  setting: string;
}

const gitEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C' };

/**
 * git's own bounds for a fetch over http(s), from the build's HTTP timeouts: curl's connect
 * timeout is not a git setting, so a server that accepts and then stalls is caught by curl's low
 * speed check (under 1 byte/s for lowSpeedTime whole seconds: the longer of the header and idle
 * timeouts), which also covers a response that stops mid-pack.
 */
export function gitTimeoutArgs(timeouts: Readonly<HttpTimeouts> = httpTimeouts()): string[] {
  const seconds = Math.max(1, Math.ceil(Math.max(timeouts.headerMs, timeouts.idleMs) / 1000));
  return ['-c', 'http.lowSpeedLimit=1', '-c', `http.lowSpeedTime=${seconds}`];
}

/** Why the source cannot be reached, or undefined when it answers (within `timeoutMs`). */
export async function probeSource(git: string, source: GitSource, timeoutMs = 15_000): Promise<string | undefined> {
  try {
    await runTool(git, [...gitTimeoutArgs(), 'ls-remote', '--quiet', source.url, 'HEAD'], {
      signal: AbortSignal.timeout(timeoutMs),
      what: `git ls-remote ${source.url}`,
      env: gitEnv,
    });
    return undefined;
  } catch (error) {
    const said = (error as Error).message.split('\n').slice(1).join(' ').trim();
    return said || (error as Error).message;
  }
}

/**
 * Fetches the commit into a bare repository (`gitDir`, kept between builds), archives its tree
 * into the store, and answers the record. Only the pinned commit is asked for; a server that
 * refuses fetches by commit id is asked for its branches and tags, which must contain it.
 */
export async function fetchSource(
  store: BlobStore,
  source: GitSource,
  options: { git: string; gitDir: string; signal: AbortSignal; timeouts?: Readonly<HttpTimeouts> },
): Promise<SourceRecord> {
  const { git, gitDir, signal } = options;
  const limits = gitTimeoutArgs(options.timeouts);
  const run = (args: string[], what: string) =>
    runTool(git, [...limits, '-C', gitDir, ...args], { signal, what, env: gitEnv });
  if (!existsSync(join(gitDir, 'HEAD'))) {
    await mkdir(gitDir, { recursive: true });
    await run(['init', '--quiet', '--bare'], `creating ${gitDir}`);
  }
  const has = () =>
    run(['cat-file', '-e', `${source.commit}^{commit}`], '').then(
      () => true,
      () => false,
    );
  if (!(await has())) {
    const where = `${source.url} (${source.setting})`;
    try {
      await run(
        ['fetch', '--quiet', '--no-tags', '--depth=1', source.url, source.commit],
        `fetching commit ${source.commit} from ${where}`,
      );
      // The tags naming the commit only (a release's), so that describe says what a clone would.
      const listed = await runTool(git, ['ls-remote', '--tags', source.url], {
        signal,
        what: `listing the tags of ${where}`,
        env: gitEnv,
      });
      const tags = tagsNaming(listed, source.commit);
      if (tags.length > 0)
        await run(
          ['fetch', '--quiet', '--no-tags', '--depth=1', source.url, ...tags.map((tag) => `+${tag}:${tag}`)],
          `fetching the tags of commit ${source.commit} from ${where}`,
        );
    } catch (byCommit) {
      await run(
        ['fetch', '--quiet', source.url, '+refs/heads/*:refs/fetched/heads/*', '+refs/tags/*:refs/tags/*'],
        `fetching ${where}`,
      ).catch(() => {
        throw oneLine(byCommit as Error, where);
      });
      if (!(await has())) throw new BuildError(`${where}: no commit ${source.commit} in its branches and tags`);
    }
  }
  // No --dirty: an archived commit has no work tree. Without its history (fetched by commit), a
  // commit no tag names is described by its abbreviated id alone.
  const describe = (
    await run(['describe', '--always', '--long', '--tags', source.commit], `describing commit ${source.commit}`)
  ).trim();
  return { commit: source.commit, archive: await archiveInto(store, git, gitDir, source.commit, signal), describe };
}

/** The tag refs of an `ls-remote --tags` listing that name `commit` (annotated ones by their peeled line). */
function tagsNaming(listing: string, commit: string): string[] {
  const tags = new Set<string>();
  for (const line of listing.split('\n')) {
    const [id, ref] = line.split('\t');
    if (id === commit && ref?.startsWith('refs/tags/')) tags.add(ref.replace(/\^\{\}$/, ''));
  }
  return [...tags].sort();
}

/** git's failure as one line naming the source: its last words ("fatal: unable to access ...: Operation too slow"). */
function oneLine(error: Error, where: string): Error {
  if (!(error instanceof BuildError)) return error;
  const said = error.message.split('\n').slice(1).filter(Boolean).at(-1)?.trim();
  return new BuildError(`${where}: git fetch failed${said ? `: ${said}` : ''}`);
}

/** `git archive` of the commit, hashed while it is written beside the store, then moved in. */
async function archiveInto(
  store: BlobStore,
  git: string,
  gitDir: string,
  commit: string,
  signal: AbortSignal,
): Promise<string> {
  const tmp = tempPathFor(join(store.root, 'ingest', `${commit}.tar`));
  await mkdir(join(store.root, 'ingest'), { recursive: true });
  const child = spawn(git, ['-C', gitDir, 'archive', '--format=tar', commit], {
    signal,
    env: gitEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const hash = createHash('sha256');
  const hashing = new PassThrough();
  hashing.on('data', (chunk: Buffer) => hash.update(chunk));
  try {
    await pipeline(child.stdout, hashing, createWriteStream(tmp));
    const code = await exited;
    if (code !== 0) throw new BuildError(`git archive ${commit} in ${gitDir} failed: ${stderr.trim()}`);
    const digest = hexDigest(hash.digest('hex'));
    await store.adopt(tmp, digest);
    return digest;
  } catch (error) {
    await rm(tmp, { force: true });
    throw isDiskFailure(error) ? writeFailure(`${store.root} (the archive of ${commit})`, error) : error;
  }
}

/** The commit git wrote into the archive's first block, a pax global header (`comment=<commit>`). */
async function archivedCommit(file: string): Promise<string | undefined> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(1024), 0, 1024, 0);
    if (bytesRead < 1024 || buffer[156] !== 'g'.charCodeAt(0)) return undefined;
    return /(?:^|\n)\d+ comment=([0-9a-f]{40})\n/.exec(buffer.subarray(512).toString('latin1'))?.[1];
  } finally {
    await handle.close();
  }
}

/**
 * Unpacks the stored archive into `dir`, replacing it whole. The archive must name `commit`; only
 * files, directories and symlinks inside the tree are accepted, and nothing is written through a
 * symlink the archive made.
 */
export async function unpackSource(
  store: BlobStore,
  record: SourceRecord,
  dir: string,
  describe: string,
): Promise<number> {
  const refuse = (why: string) => new BuildError(`${describe}: archive ${record.archive}: ${why}`);
  const named = await archivedCommit(store.path(record.archive));
  if (named !== record.commit)
    throw refuse(`holds the tree of ${named ? `commit ${named}` : 'no named commit'}, not of ${record.commit}`);
  let files = 0;
  await replaceDirectory(dir, async (staging) => {
    const reader = extract();
    const links = new Set<string>();
    const consume = (async () => {
      for await (const entry of reader) {
        const { header } = entry;
        const name = posix.normalize(header.name).replace(/\/$/, '');
        if (name === '.' || name === '') {
          entry.resume();
          continue;
        }
        if (posix.isAbsolute(name) || name === '..' || name.startsWith('../'))
          throw refuse(`entry ${JSON.stringify(header.name)} points outside the tree`);
        const parents = name
          .split('/')
          .slice(0, -1)
          .map((_, index, parts) => parts.slice(0, index + 1).join('/'));
        if (parents.some((parent) => links.has(parent)))
          throw refuse(`entry ${JSON.stringify(header.name)} lies under a symlink`);
        const target = join(staging, name);
        if (header.type === 'directory') {
          await mkdir(target, { recursive: true });
          entry.resume();
        } else if (header.type === 'symlink') {
          await mkdir(join(target, '..'), { recursive: true });
          await symlink(header.linkname!, target);
          links.add(name);
          entry.resume();
        } else if (header.type === 'file') {
          await mkdir(join(target, '..'), { recursive: true });
          const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
          await pipeline(entry, createWriteStream(target, { flags: 'wx', mode }));
          await chmod(target, mode);
          files += 1;
        } else {
          throw refuse(`entry ${JSON.stringify(header.name)} is a ${header.type}, not a file, directory or symlink`);
        }
      }
    })().catch((error: unknown) => {
      reader.destroy(); // stops the read below, which would otherwise wait for a reader
      throw error;
    });
    await Promise.all([
      pipeline(createReadStream(store.path(record.archive)), reader).catch(async (error: unknown) => {
        await consume; // its error, when it has one, says more than the aborted read
        throw error;
      }),
      consume,
    ]);
  });
  return files;
}
