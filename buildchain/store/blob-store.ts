// The content-addressed blob store (BUILD_ROOT/cache): one file per digest, shared by every
// image and every build. Image layouts hard-link their files from here, so a layer shared by
// ten images is one inode on disk and, through the ISO writer's hard-link detection, one extent
// in the ISO (what upstream's `hardlink -c` pass did after the fact).
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { limitConcurrency } from '../concurrency.ts';
import type { KnownDigest } from '../fs/stat-numbers.ts';
import { BuildError } from '../errors.ts';
import { HttpTimeoutError } from '../http.ts';
import { linkAtomic, tempPathFor } from '../fs/atomic.ts';
import { formatBytes, isDiskFailure, requireFreeSpace, writeFailure } from '../fs/space.ts';
import { createSha256, digestHex, DigestMismatchError, DigestVerifier, sha256Digest, sha256File } from './sha256.ts';

/** A download source that can start at an offset; `start` says where the server actually began. */
export type RangeSource = (offset: number) => Promise<{ body: Readable; start: number }>;

export interface IngestOptions {
  size?: number;
  maxSize?: number;
  describe: string;
  onBytes?: (n: number) => void;
}

/**
 * Another store of blobs by digest, shared with other build hosts (buildchain/cache): asked for a
 * blob this store lacks before any other source, and offered every blob this store takes in.
 * Neither call may fail a build: a remote that cannot answer answers "not there".
 */
export interface RemoteBlobs {
  /** Where to read the blob from, or undefined when the remote does not hold it. */
  source(digest: string): Promise<RangeSource | undefined>;
  /** The remote's blob did not verify (or broke off): said by the remote, and the blob is sought elsewhere. */
  refused(digest: string, error: unknown): void;
  /** A blob this store has just taken in, at `path`. */
  offer(digest: string, path: string): Promise<void>;
}

/** Downloads from the remote at once (see BlobStore.fromRemote). */
const REMOTE_DOWNLOADS = 8;

export class BlobStore {
  /** One ingestion per digest at a time: images pulled in parallel that share a layer fetch it once. */
  readonly #inflight = new Map<string, Promise<void>>();
  /** Likewise for blobs taken from the remote (has() is asked from inside an ingestion). */
  readonly #fromRemote = new Map<string, Promise<boolean>>();
  /**
   * A check of 600 locked RPMs asks for 600 blobs at once: their downloads take half of the 16
   * connections to a host (buildchain/http.ts) at most, so that a small request of the build (a
   * HEAD, a cached task's listing, the product source's record) does not queue behind them all.
   */
  readonly fromRemote = limitConcurrency(REMOTE_DOWNLOADS);
  /** Set by the build context when a shared cache is configured. */
  remote: RemoteBlobs | undefined;
  /** Files whose content this process knows (placed or verified), by inode: what knownDigest answers. */
  readonly #known = new Map<string, { hex: string; size: number; mtimeMs: number }>();

  constructor(readonly root: string) {}

  path(digest: string): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  /**
   * Whether the blob is stored (with that size, when given). A blob this store lacks is taken from
   * the remote when it holds it, verified as any download: every "is it stored?" of the build
   * (reachability checks, pulls, package downloads) then finds what another host stored.
   */
  async has(digest: string, size?: number): Promise<boolean> {
    if (await this.#present(digest, size)) return true;
    if (!this.remote) return false;
    let fetching = this.#fromRemote.get(digest);
    if (!fetching) {
      fetching = this.#takeFromRemote(this.remote, digest, size);
      this.#fromRemote.set(digest, fetching);
      void fetching.finally(() => this.#fromRemote.delete(digest));
    }
    return fetching;
  }

  async #present(digest: string, size?: number): Promise<boolean> {
    try {
      const stats = await stat(this.path(digest));
      return size === undefined || stats.size === size;
    } catch {
      return false;
    }
  }

  async #takeFromRemote(remote: RemoteBlobs, digest: string, size: number | undefined): Promise<boolean> {
    const source = await remote.source(digest);
    if (!source) return false;
    try {
      await this.fromRemote(() =>
        this.#download(digest, source, {
          describe: `shared cache blob ${digest}`,
          ...(size !== undefined ? { size } : {}),
        }),
      );
      return true;
    } catch (error) {
      remote.refused(digest, error);
      return false;
    }
  }

  /** Tells the remote of a blob just stored here (it decides whether to share it). */
  async #offer(digest: string): Promise<void> {
    await this.remote?.offer(digest, this.path(digest));
  }

  /** Stores small content held in memory (manifests), after checking its digest. */
  async put(digest: string, bytes: Uint8Array, describe: string): Promise<void> {
    const actual = sha256Digest(bytes);
    if (actual !== digest)
      throw new DigestMismatchError(`${describe}: digest mismatch, expected ${digest}, got ${actual}`);
    if (await this.#present(digest, bytes.length)) return;
    const target = this.path(digest);
    await mkdir(dirname(target), { recursive: true });
    const tmp = tempPathFor(target);
    try {
      await writeFile(tmp, bytes, { mode: 0o644 });
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw isDiskFailure(error) ? writeFailure(`${this.root} (${describe})`, error) : error;
    }
    await this.#offer(digest);
  }

  /**
   * Downloads a blob into the store unless it is there, verifying its digest as bytes arrive.
   * Bytes received by an interrupted attempt stay in `ingest/<hex>.partial` and the next attempt
   * (in this run or a later one) asks only for the rest; a digest mismatch discards them.
   * Resolves with the number of bytes fetched now (0 when the blob was already stored).
   * `size` is the declared size, `maxSize` a bound for content whose size nobody declares: past
   * either, the download stops and its bytes are discarded.
   */
  async ingest(digest: string, source: RangeSource, options: IngestOptions): Promise<number> {
    let fetched = 0;
    const current = this.#inflight.get(digest);
    if (current) {
      await current;
      return 0;
    }
    const work = (async () => {
      if (await this.has(digest, options.size)) return;
      fetched = await this.#download(digest, source, options);
      await this.#offer(digest);
    })();
    this.#inflight.set(digest, work);
    try {
      await work;
    } finally {
      this.#inflight.delete(digest);
    }
    return fetched;
  }

  async #download(digest: string, source: RangeSource, options: IngestOptions): Promise<number> {
    const partial = join(this.root, 'ingest', `${digestHex(digest)}.partial`);
    await mkdir(dirname(partial), { recursive: true });
    const hash = createSha256();
    let have = 0;
    try {
      for await (const chunk of createReadStream(partial)) {
        hash.update(chunk as Buffer);
        have += (chunk as Buffer).length;
      }
    } catch {
      have = 0;
    }
    if (options.size !== undefined && have > options.size) have = 0;
    // Known sizes are checked against the room left: a full disk is said before any download.
    if (options.size !== undefined)
      requireFreeSpace(partial, options.size - have, `${options.describe}, into ${this.root}`);
    const { body, start } = await source(have);
    const resumed = start === have && have > 0;
    const verifier = new DigestVerifier(digest, options.describe, {
      ...(resumed ? { alreadyHashed: hash, alreadyBytes: have } : {}),
      ...(options.size !== undefined ? { expectedSize: options.size } : {}),
      ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    });
    let received = 0;
    const count = async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        received += chunk.length;
        options.onBytes?.(chunk.length);
        yield chunk;
      }
    };
    const sink = createWriteStream(partial, { flags: resumed ? 'a' : 'w', mode: 0o644 });
    try {
      await pipeline(body, verifier, count, sink);
    } catch (error) {
      // The file is opened asynchronously: an early failure may reject before it exists, and a
      // removal then would run before the open creates it. Wait for the stream to let go first.
      if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
      // A corrupt blob must not be resumed from: start again from nothing next time.
      if (error instanceof DigestMismatchError) await rm(partial, { force: true });
      // The bytes that reached the disk stay for the next attempt, which asks only for the rest.
      if (isDiskFailure(error)) {
        const kept = (await stat(partial).catch(() => undefined))?.size ?? 0;
        throw writeFailure(
          `${this.root} (${options.describe})`,
          error,
          kept > 0 ? `; the ${formatBytes(kept)} received are kept, and the next run resumes from them` : '',
        );
      }
      throw error;
    }
    const target = this.path(digest);
    await mkdir(dirname(target), { recursive: true });
    await chmod(partial, 0o644);
    await rename(partial, target);
    return received;
  }

  /** Moves a file made on this file system (a built layer) into the store under its digest. */
  async adopt(file: string, digest: string): Promise<void> {
    const target = this.path(digest);
    await mkdir(dirname(target), { recursive: true });
    await rename(file, target);
    await this.#offer(digest);
  }

  /**
   * Places the stored blob at `dest` as a hard link (a copy across file systems), replacing what
   * is there. The store's file must not be edited through the link: nothing here writes to it.
   */
  async linkTo(digest: string, dest: string): Promise<void> {
    await linkAtomic(this.path(digest), dest);
    await this.vouch(dest, digest);
  }

  /**
   * Remembers that the file at `path`, as it is now, has `digest` (sha256:<hex>): its writer hashed
   * it as it wrote it, or verified it, and a rename keeps it known. Only for files nothing rewrites
   * in place: a file written since has another mtime and is no longer known.
   */
  async vouch(path: string, digest: string): Promise<void> {
    const stats = await stat(path);
    this.#known.set(inodeKey(stats), { hex: digestHex(digest), size: stats.size, mtimeMs: stats.mtimeMs });
  }

  /**
   * The hex sha256 of a file that linkTo placed or vouch was told of in this process (the same
   * inode, size and mtime), so a build need not read it again to know its content; undefined for
   * any other file, or one written since.
   */
  knownDigest(stats: Parameters<KnownDigest>[0]): string | undefined {
    const known = this.#known.get(inodeKey(stats));
    return known && known.size === stats.size && known.mtimeMs === stats.mtimeMs ? known.hex : undefined;
  }

  /** The hex sha256 of a file: known (knownDigest), or read. */
  async sha256Of(path: string): Promise<string> {
    const stats = await stat(path);
    return this.knownDigest(stats) ?? (await sha256File(path, stats.size));
  }
}

const inodeKey = (stats: { dev: number; ino: number }): string => `${stats.dev}:${stats.ino}`;

/**
 * `store.ingest`, attempted again when the body breaks off (the next attempt resumes from the
 * bytes received). A digest mismatch or an HTTP refusal (BuildError) will not get better and is
 * thrown at once; a body that fell silent past its timeout is given one more attempt, as
 * getWithRetries gives a request. `describe` names the content and where it comes from, for every message.
 */
export async function ingestRetrying(
  store: BlobStore,
  digest: string,
  source: RangeSource,
  options: Omit<IngestOptions, 'describe'> & { describe: () => string; signal: AbortSignal; attempts?: number },
): Promise<number> {
  const attempts = options.attempts ?? 5;
  let timedOut = 0;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { describe, signal: _signal, attempts: _attempts, ...ingest } = options;
      return await store.ingest(digest, source, { ...ingest, describe: describe() });
    } catch (error) {
      if (error instanceof BuildError || options.signal.aborted) throw error;
      if (error instanceof HttpTimeoutError) timedOut += 1;
      if (attempt >= attempts || timedOut > 1)
        throw new BuildError(`${options.describe()}: ${(error as Error).message}`);
    }
  }
}
