// A yum repository over HTTP: repomd.xml, then its primary (and, on demand, filelists) metadata,
// fetched into the shared blob store by checksum so a later build reads them from disk, and
// package URLs. Mirrors come from `.env`: YUM_MIRROR_<NAME>=<base URL>. Nothing a repository
// sends is taken without a bound (MetadataLimits): repomd.xml is read up to a few MiB, a metadata
// file is cut past the size repomd.xml declares (or a ceiling) and refused unless its checksum
// matches, and its content past its declared open-size (or a ceiling) once decompressed.
import { PassThrough, pipeline, type Readable, Transform } from 'node:stream';
import { byteLimit } from '../byte-limit.ts';
import { BuildError } from '../errors.ts';
import { formatBytes } from '../fs/space.ts';
import { getWithRetries, probe, rangeSource } from '../http.ts';
import { ingestRetrying, type BlobStore, type RangeSource } from '../store/blob-store.ts';
import {
  decompressMetadata,
  fileOwnersIn,
  openMetadata,
  parsePrimary,
  parseRepomd,
  type RepomdEntry,
  type RpmPackage,
} from './metadata.ts';
import { hexDigest } from '../store/sha256.ts';

export interface RepositorySource {
  name: string;
  baseurl: string;
  /** Lower wins, as yum's priority: a package in a lower-priority repository is preferred. */
  priority: number;
}

export function mirrorKey(repo: string): string {
  return `YUM_MIRROR_${repo.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The base URL requests go to: the repository's mirror when `.env` sets one. */
export function effectiveBaseurl(source: RepositorySource, mirrors: ReadonlyMap<string, string>): string {
  const mirror =
    mirrors.get(source.name.toLowerCase().replace(/[^a-z0-9]/g, '_')) ?? mirrors.get(source.name.toLowerCase());
  return (mirror ?? source.baseurl).replace(/\/+$/, '');
}

/** A sha256 checksum as a store digest; other algorithms are refused with the file's name. */
export function storeDigest(checksum: { type: string; value: string }, what: string): string {
  const type = checksum.type === 'sha' ? 'sha1' : checksum.type;
  if (type !== 'sha256' || !/^[a-f0-9]{64}$/.test(checksum.value)) {
    throw new BuildError(
      `${what}: checksum "${checksum.type}:${checksum.value}" is not sha256; only sha256 repositories are supported (createrepo_c --checksum sha256)`,
    );
  }
  return hexDigest(checksum.value);
}

/** How much of a repository's metadata is taken at most. */
export interface MetadataLimits {
  /** repomd.xml, read into memory (createrepo's are a few KiB). */
  repomdBytes: number;
  /** A metadata file whose `<size>` repomd.xml omits, downloaded into the store. */
  fileBytes: number;
  /** A metadata file's decompressed content when repomd.xml omits its `<open-size>`. */
  openBytes: number;
}

export const DEFAULT_METADATA_LIMITS: Readonly<MetadataLimits> = {
  repomdBytes: 4 << 20,
  // EPEL 7's primary and filelists are tens of MiB compressed, a few hundred MiB open.
  fileBytes: 1 << 30,
  openBytes: 4 * 1024 ** 3,
};

export class YumRepository {
  readonly baseurl: string;
  readonly limits: MetadataLimits;
  #repomd: Promise<Map<string, RepomdEntry>> | undefined;
  #packages: Promise<RpmPackage[]> | undefined;

  constructor(
    readonly source: RepositorySource,
    mirrors: ReadonlyMap<string, string>,
    readonly store: BlobStore,
    limits: Partial<MetadataLimits> = {},
  ) {
    this.baseurl = effectiveBaseurl(source, mirrors);
    this.limits = { ...DEFAULT_METADATA_LIMITS, ...limits };
  }

  url(location: string): string {
    return `${this.baseurl}/${location.replace(/^\/+/, '')}`;
  }

  /** Answers whether repomd.xml can be fetched; a reason when not. */
  probe(): Promise<string | undefined> {
    return probe(this.url('repodata/repomd.xml'));
  }

  repomd(signal: AbortSignal): Promise<Map<string, RepomdEntry>> {
    this.#repomd ??= (async () => {
      const url = this.url('repodata/repomd.xml');
      const response = await getWithRetries(url, { signal });
      if (response.status !== 200) {
        await response.body.dump();
        throw new BuildError(`${url}: HTTP ${response.status} (repository ${this.source.name})`);
      }
      const { repomdBytes } = this.limits;
      const tooLarge = () => new BuildError(`${url}: larger than ${formatBytes(repomdBytes)}, not a repomd.xml`);
      return parseRepomd(
        pipeline(response.body, byteLimit(repomdBytes, tooLarge), () => undefined),
        url,
      );
    })();
    return this.#repomd;
  }

  /** Where a metadata file (primary, filelists) is, its store digest, and how its content is bounded. */
  async #entry(type: string, signal: AbortSignal) {
    const entry = (await this.repomd(signal)).get(type);
    const repomdUrl = this.url('repodata/repomd.xml');
    if (!entry) throw new BuildError(`${repomdUrl}: no ${type} metadata listed`);
    const url = this.url(entry.location);
    const digest = storeDigest(entry.checksum, `${repomdUrl}: ${type}`);
    const open = entry.openSize ?? this.limits.openBytes;
    const limit = {
      bytes: open,
      tooLarge: () =>
        new BuildError(
          `${url}: decompresses to more than ${entry.openSize !== undefined ? `the ${open} bytes of its <open-size> in repomd.xml` : formatBytes(open)} (repository ${this.source.name})`,
        ),
    };
    return { entry, url, digest, limit };
  }

  /** Downloads a metadata file into the store, verified, from `source` (the URL by default). */
  async #ingest(type: string, signal: AbortSignal, source?: RangeSource): Promise<void> {
    const { entry, url, digest } = await this.#entry(type, signal);
    await ingestRetrying(
      this.store,
      digest,
      source ?? rangeSource(url, signal, `${type} metadata of repository ${this.source.name}`),
      {
        signal,
        describe: () => `${url} (repository ${this.source.name})`,
        ...(entry.size !== undefined ? { size: entry.size } : { maxSize: this.limits.fileBytes }),
      },
    );
  }

  /** A metadata file (primary, filelists) from the store, fetched and verified first if needed. */
  async #metadata(type: string, signal: AbortSignal): Promise<{ stream: Readable; url: string }> {
    await this.#ingest(type, signal);
    const { entry, url, digest, limit } = await this.#entry(type, signal);
    return { stream: openMetadata(this.store.path(digest), entry.location, limit), url };
  }

  packages(signal: AbortSignal): Promise<RpmPackage[]> {
    this.#packages ??= this.#primary(signal);
    return this.#packages;
  }

  /**
   * primary.xml's packages. One that is not stored yet is parsed as it downloads, through a tap
   * on the download's one attempt (which the parse paces: nothing piles up in memory), and its
   * packages are trusted only once the download has verified its checksum. A download that
   * resumes, or that another ingestion of the same file made, is parsed from the store after.
   */
  async #primary(signal: AbortSignal): Promise<RpmPackage[]> {
    const { entry, url, digest, limit } = await this.#entry('primary', signal);
    const fromStore = () =>
      parsePrimary(openMetadata(this.store.path(digest), entry.location, limit), this.source.name, url);
    if (await this.store.has(digest, entry.size)) return fromStore();
    const tap = new PassThrough({ highWaterMark: 1 << 20 });
    let attempts = 0;
    let fed = false;
    const fetch = rangeSource(url, signal, `primary metadata of repository ${this.source.name}`);
    const source: RangeSource = async (offset) => {
      attempts += 1;
      const answer = await fetch(offset);
      if (attempts > 1 || answer.start > 0) {
        tap.destroy();
        return answer;
      }
      return {
        body: pipeline(
          answer.body,
          teeInto(tap, () => (fed = true)),
          () => undefined,
        ),
        start: 0,
      };
    };
    const parsing = parsePrimary(decompressMetadata(tap, entry.location, limit), this.source.name, url);
    // Awaited only when the tap had the whole file; otherwise its failure is of no interest.
    parsing.catch(() => undefined);
    try {
      await this.#ingest('primary', signal, source);
    } finally {
      if (!fed) tap.destroy();
    }
    return fed && attempts === 1 ? parsing : fromStore();
  }

  /**
   * The packages (by checksum) that own each of `paths`, from filelists.xml: read only when a file
   * dependency is not among the files primary.xml lists, and only the asked paths are kept.
   */
  async fileOwners(paths: ReadonlySet<string>, signal: AbortSignal): Promise<Map<string, string[]>> {
    const { stream, url } = await this.#metadata('filelists', signal);
    return fileOwnersIn(stream, url, paths);
  }
}

/**
 * The error a build stops with when sources do not answer: each repository and spec source, and
 * the `.env` keys that point them at mirrors.
 */
export function unreachableSources(
  repositories: readonly { name: string; baseurl: string; reason: string }[],
  sources: readonly { name: string; url: string; reason: string }[],
): BuildError {
  const parts: string[] = [];
  const settings: string[] = [];
  if (repositories.length > 0) {
    parts.push(
      `cannot reach ${repositories.length} yum repositor${repositories.length === 1 ? 'y' : 'ies'}:`,
      ...repositories.map((entry) => `  ${entry.name} (${entry.baseurl}/repodata/repomd.xml): ${entry.reason}`),
      'point them at reachable mirrors with YUM_MIRROR_<REPOSITORY> in .env',
    );
    settings.push(...repositories.map((entry) => `${mirrorKey(entry.name)}=<mirror base URL>`));
  }
  if (sources.length > 0) {
    parts.push(
      `cannot fetch ${sources.length} spec source${sources.length === 1 ? '' : 's'}:`,
      ...sources.map((entry) => `  ${entry.name} (${entry.url}): ${entry.reason}`),
      'serve them by file name from a mirror named by SOURCES_MIRROR in .env',
    );
    settings.push('SOURCES_MIRROR=<base URL>');
  }
  return new BuildError(parts.join('\n'), settings);
}

/**
 * A pass-through that also writes what goes through it into `tap`, waiting for the tap to drain
 * (the slower reader paces both); once the tap is gone, it only passes through. `ended` says
 * the tap had it all.
 */
function teeInto(tap: PassThrough, ended: () => void): Transform {
  let whole = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (tap.destroyed || tap.write(chunk)) {
        done(null, chunk);
        return;
      }
      const go = () => {
        tap.off('drain', go);
        tap.off('close', go);
        done(null, chunk);
      };
      tap.once('drain', go);
      tap.once('close', go);
    },
    flush(done) {
      if (!tap.destroyed) {
        whole = true;
        ended();
        tap.end();
      }
      done();
    },
    destroy(error, done) {
      // A download that broke off leaves the tap's reader with a part: it must not take it as all.
      if (error || !whole) tap.destroy();
      done(error);
    },
  });
}
