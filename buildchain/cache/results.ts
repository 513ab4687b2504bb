// Task results as OCI artifacts in the cache repository, tagged by the hex of the task's key
// (engine/cache-key.ts): the first layer is a listing (every directory and file of the targets,
// with its mode, digest and size), then one layer per file, titled by its path. A file that was a
// hard link into the content store is marked so, and is placed again as a link into this
// runner's store: an image layout restored here shares its layers' inodes as a built one does,
// so the ISO stores them once and comes out byte-identical. Everything pulled is verified by
// digest while it streams, and swapped in only once the whole result is there.
import { createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { CacheContext, CacheEntry, ResultCache } from '../engine/task.ts';
import { errorMessage } from '../errors.ts';
import { compareCodePoints } from '../fs/walk.ts';
import { artifactManifest, EMPTY_CONFIG } from '../oci/artifact.ts';
import { OCI_MANIFEST, type Descriptor } from '../oci/media-types.ts';
import { bytesBlob, fileBlob, pushBlob, pushManifest } from '../oci/push.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { DigestVerifier, parseDigest, sha256Digest, sha256File } from '../store/sha256.ts';
import { CorruptEntryError } from './health.ts';
import type { CacheRemote } from './remote.ts';

export const RESULT_ARTIFACT = 'application/vnd.metalk8s.cache.result.v1';
const LISTING = 'application/vnd.metalk8s.cache.result.v1+json';
const FILE = 'application/octet-stream';
const TITLE = 'org.opencontainers.image.title';
const MODE = 'io.metalk8s.cache.mode';
/** A manifest of thousands of files is a few hundred kilobytes; a listing, about as much. */
const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_LISTING_BYTES = 16 << 20;

interface DirEntry {
  path: string;
  type: 'dir';
  mode: number;
}

interface FileEntry {
  path: string;
  type: 'file';
  mode: number;
  digest: string;
  size: number;
  /** It was a hard link into the content store: placed as one here too. */
  stored?: true;
  /** It was a hard link to this earlier file of the result. */
  sameAs?: string;
}

type Entry = DirEntry | FileEntry;

interface Listing {
  task: string;
  key: string;
  entries: Entry[];
}

/** A target the cache cannot carry (a symlink, a device): the task is simply not shared. */
class UnshareableError extends Error {}

let staging = 0;

export class CacheResults implements ResultCache {
  constructor(
    readonly remote: CacheRemote,
    readonly store: BlobStore,
  ) {}

  /** The run's warnings go to its reporter, those of the store's blobs included. */
  begin(context: CacheContext): void {
    this.remote.health.warn = context.warn;
  }

  async restore(entry: CacheEntry, context: CacheContext): Promise<boolean> {
    const { health } = this.remote;
    if (!(await health.ready())) return false;
    try {
      const listing = await this.#listing(entry, context.signal);
      if (!listing) return false;
      await this.#place(entry, listing, context.signal);
      return true;
    } catch (error) {
      if (context.signal.aborted) throw error;
      health.report(`entry ${entry.key} of ${entry.task}`, error);
      return false;
    }
  }

  async save(entry: CacheEntry, context: CacheContext): Promise<void> {
    const { health, writable } = this.remote;
    if (!writable || !health.usable) return;
    let listing: Listing;
    try {
      listing = await this.#describe(entry);
    } catch (error) {
      // A target the cache cannot carry (a symlink), or that changed while it was read.
      context.warn(`cache: ${entry.task} is not shared: ${errorMessage(error)}`);
      return;
    }
    const target = { ...this.remote.target, signal: context.signal };
    await health.guard(
      `entry ${entry.key} of ${entry.task}`,
      async () => {
        const files = listing.entries.filter((e): e is FileEntry => e.type === 'file');
        const pushed = new Set<string>();
        for (const file of files) {
          if (pushed.has(file.digest)) continue;
          pushed.add(file.digest);
          await pushBlob(target, fileBlob(this.#pathOf(entry, file.path), file.digest, file.size));
        }
        const listingBlob = bytesBlob(Buffer.from(JSON.stringify(listing)));
        await pushBlob(target, listingBlob);
        await pushBlob(target, bytesBlob(EMPTY_CONFIG)); // the artifact's config
        const layers: Descriptor[] = [
          { mediaType: LISTING, digest: listingBlob.digest, size: listingBlob.size },
          ...files.map((file) => ({
            mediaType: FILE,
            digest: file.digest,
            size: file.size,
            annotations: { [TITLE]: file.path, [MODE]: file.mode.toString(8) },
          })),
        ];
        // Equal inputs give equal bytes, so two runners pushing this tag at once push the same
        // manifest: whichever PUT lands last, the tag names a whole, valid result.
        const manifest = artifactManifest({
          artifactType: RESULT_ARTIFACT,
          layers,
          annotations: { 'io.metalk8s.cache.task': entry.task },
        });
        await pushManifest(target, entry.key, manifest, OCI_MANIFEST);
      },
      undefined,
    );
  }

  /** The absolute path of an entry path (`build/...`), through the target it lies in. */
  #pathOf(entry: CacheEntry, path: string): string {
    const index = entry.names.findIndex((name) => path === name || path.startsWith(`${name}/`));
    return resolve(entry.root, entry.targets[index]!) + path.slice(entry.names[index]!.length);
  }

  /** The listing of the targets as they are now, files hashed (or named by the store). */
  async #describe(entry: CacheEntry): Promise<Listing> {
    const entries: Entry[] = [];
    const inodes = new Map<number, FileEntry>();
    const visit = async (absolute: string, path: string): Promise<void> => {
      const stats = await lstat(absolute);
      const mode = stats.mode & 0o7777;
      if (stats.isDirectory()) {
        entries.push({ path, type: 'dir', mode });
        for (const name of (await readdir(absolute)).sort(compareCodePoints))
          await visit(join(absolute, name), `${path}/${name}`);
        return;
      }
      if (!stats.isFile()) throw new UnshareableError(`${absolute} is neither a file nor a directory`);
      const first = stats.nlink > 1 ? inodes.get(stats.ino) : undefined;
      if (first) {
        entries.push({ ...first, path, sameAs: first.path });
        return;
      }
      const named = await this.#storedAs(absolute, stats.ino);
      const digest = named ?? `sha256:${await sha256File(absolute, stats.size)}`;
      const stored = named !== undefined || (await sameInode(this.store.path(digest), stats.ino));
      const file: FileEntry = { path, type: 'file', mode, digest, size: stats.size, ...(stored ? { stored } : {}) };
      entries.push(file);
      if (stats.nlink > 1) inodes.set(stats.ino, file);
    };
    for (const [i, target] of entry.targets.entries()) await visit(resolve(entry.root, target), entry.names[i]!);
    return { task: entry.task, key: entry.key, entries };
  }

  /** The digest of a file named by its hex digest that is the store's own file (layout blobs): no hashing. */
  async #storedAs(absolute: string, ino: number): Promise<string | undefined> {
    const name = basename(absolute);
    if (!/^[a-f0-9]{64}$/.test(name)) return undefined;
    const digest = `sha256:${name}`;
    return (await sameInode(this.store.path(digest), ino)) ? digest : undefined;
  }

  /** The entry's listing, verified; undefined when the cache has no such entry. */
  async #listing(entry: CacheEntry, signal: AbortSignal): Promise<Listing | undefined> {
    const { client, repository } = this.remote.target;
    const response = await client.send('GET', repository, `manifests/${entry.key}`, { accept: OCI_MANIFEST }, signal);
    if (response.status === 404) {
      await response.body.dump();
      return undefined;
    }
    if (response.status !== 200) throw await client.failure(response, `cache entry ${repository}:${entry.key}`);
    const bytes = await response.body.bytes(
      MAX_MANIFEST_BYTES,
      () => new CorruptEntryError(`its manifest is larger than ${MAX_MANIFEST_BYTES} bytes`),
    );
    const manifest = parseJson(bytes, 'its manifest') as { artifactType?: unknown; layers?: Descriptor[] };
    const first = Array.isArray(manifest.layers) ? manifest.layers[0] : undefined;
    if (manifest.artifactType !== RESULT_ARTIFACT || first?.mediaType !== LISTING)
      throw new CorruptEntryError(`it is not a task result (artifactType ${String(manifest.artifactType)})`);
    const digest = parseDigest(first.digest, 'its listing');
    const blob = await client.send('GET', repository, `blobs/${digest}`, {}, signal);
    if (blob.status !== 200) throw await client.failure(blob, `listing ${repository}@${digest}`);
    const listingBytes = await blob.body.bytes(
      MAX_LISTING_BYTES,
      () => new CorruptEntryError(`its listing is larger than ${MAX_LISTING_BYTES} bytes`),
    );
    if (sha256Digest(listingBytes) !== digest)
      throw new CorruptEntryError(`its listing does not have its digest ${digest}`);
    return checkListing(parseJson(listingBytes, 'its listing'), entry);
  }

  /** Downloads every file beside its target, then swaps the targets in; on failure nothing is left. */
  async #place(entry: CacheEntry, listing: Listing, signal: AbortSignal): Promise<void> {
    const staged: { target: string; staging: string }[] = [];
    const placed = new Map<string, string>();
    const dirs: { path: string; mode: number }[] = [];
    try {
      for (const [i, declared] of entry.targets.entries()) {
        const target = resolve(entry.root, declared);
        const name = entry.names[i]!;
        staging += 1;
        const place = join(dirname(target), `.${basename(target)}.cache-${process.pid}-${staging}`);
        await mkdir(dirname(target), { recursive: true });
        staged.push({ target, staging: place });
        const mine = listing.entries.filter((e) => e.path === name || e.path.startsWith(`${name}/`));
        if (mine[0]?.path !== name) throw new CorruptEntryError(`it has no ${name}`);
        for (const item of mine) {
          const dest = place + item.path.slice(name.length);
          if (item.type === 'dir') {
            await mkdir(dest);
            dirs.push({ path: dest, mode: item.mode });
          } else {
            await this.#file(item, dest, placed, signal);
            placed.set(item.path, dest);
          }
        }
      }
      // Last, as a read-only directory could not be filled.
      for (const dir of dirs.reverse()) await chmod(dir.path, dir.mode);
      for (const { target, staging: place } of staged) {
        await rm(target, { recursive: true, force: true });
        await rename(place, target);
      }
    } catch (error) {
      for (const { staging: place } of staged) await rm(place, { recursive: true, force: true });
      throw error;
    }
  }

  async #file(item: FileEntry, dest: string, placed: Map<string, string>, signal: AbortSignal): Promise<void> {
    if (item.sameAs !== undefined) {
      const first = placed.get(item.sameAs);
      if (!first)
        throw new CorruptEntryError(`${item.path} is a link to ${item.sameAs}, which comes nowhere before it`);
      await link(first, dest);
      return;
    }
    if (item.stored) {
      // The store takes it from the cache (verified) unless it holds it already.
      if (!(await this.store.has(item.digest, item.size))) {
        if (!this.remote.health.usable) throw new Error('the cache failed');
        throw new CorruptEntryError(`${item.path} (${item.digest}) is not a blob the cache can give`);
      }
      await this.store.linkTo(item.digest, dest);
      return;
    }
    const { client, repository } = this.remote.target;
    // Counted with the store's own downloads from the cache: restores run beside each other.
    await this.store.fromRemote(async () => {
      const { body } = await client.blob(repository, item.digest, 0, signal);
      const verifier = new DigestVerifier(item.digest, item.path, { expectedSize: item.size });
      await pipeline(body, verifier, createWriteStream(dest, { mode: item.mode }));
    });
    await chmod(dest, item.mode);
    await this.store.vouch(dest, item.digest); // verified: the engine need not hash it again
  }
}

async function sameInode(path: string, ino: number): Promise<boolean> {
  try {
    return (await stat(path)).ino === ino;
  } catch {
    return false;
  }
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new CorruptEntryError(`${what} is not JSON`);
  }
}

const SEGMENT = /^(?!\.\.?$)[^/\0]+$/;

/** A listing of this very entry, whose paths stay inside its targets and whose files have digests. */
function checkListing(value: unknown, entry: CacheEntry): Listing {
  const listing = value as Partial<Listing> | null;
  if (listing?.task !== entry.task || listing.key !== entry.key || !Array.isArray(listing.entries))
    throw new CorruptEntryError(`its listing is of another task or key (${String(listing?.task)})`);
  for (const item of listing.entries as {
    path?: string;
    type?: string;
    mode?: unknown;
    size?: unknown;
    digest?: unknown;
  }[]) {
    const name = entry.names.find((n) => item.path === n || item.path?.startsWith(`${n}/`));
    const rest = name === undefined ? undefined : item.path!.slice(name.length + 1);
    const inside =
      rest !== undefined && (item.path === name || rest.split('/').every((part: string) => SEGMENT.test(part)));
    const mode = typeof item.mode === 'number' && Number.isInteger(item.mode) && item.mode >= 0 && item.mode <= 0o7777;
    const file =
      item.type === 'file' &&
      typeof item.size === 'number' &&
      Number.isSafeInteger(item.size) &&
      item.size >= 0 &&
      typeof item.digest === 'string' &&
      /^sha256:[a-f0-9]{64}$/.test(item.digest);
    if (!inside || !mode || !(item.type === 'dir' || file))
      throw new CorruptEntryError(`its listing has a malformed entry ${JSON.stringify(item).slice(0, 200)}`);
  }
  return listing as Listing;
}
