// The packages of one build: its declarations (read once), its lock (committed or resolved), the
// shared blob store, one client per repository, and what fetching them takes. The packaging tasks
// declare the steps; this does them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { limitConcurrency } from '../concurrency.ts';
import { BuildError } from '../errors.ts';
import { getWithRetries, probe, rangeSource } from '../http.ts';
import { hexDigest, sha256Digest } from '../store/sha256.ts';
import { BlobStore, ingestRetrying } from '../store/blob-store.ts';
import { loadPackageDeclarations, type PackageDeclarations, type SpecSource } from './declarations.ts';
import {
  lockInputs,
  lockOf,
  readLock,
  repositoryKeyFile,
  type LockedKey,
  type LockedPackage,
  type PackageLock,
} from './lock.ts';
import { nevra, type RpmPackage } from './metadata.ts';
import { unreachableSources, YumRepository } from './repository.ts';
import { ownersAcross, resolveClosure, type PackageRequest } from './resolve.ts';

export interface WorkspaceOptions {
  packagesFile: string;
  buildRoot: string;
  mirrors: ReadonlyMap<string, string>;
  /** Serves spec sources by file name instead of their declared URLs. */
  sourcesMirror?: string | undefined;
  /** Default: BUILD_ROOT/cache. */
  store?: BlobStore;
  /** The most a spec source may weigh, since packages.yaml declares no size (default: 2 GiB). */
  sourceMaxBytes?: number;
}

/** Spec sources are release tarballs of tens of MiB: past this, a body is cut rather than stored. */
export const SOURCE_MAX_BYTES = 2 * 1024 ** 3;

type UrlSource = SpecSource & { url: string; sha256: string };

export class PackageWorkspace {
  readonly store: BlobStore;
  readonly lockFile: string;
  readonly committedLock: string;
  #declarations: PackageDeclarations | undefined;
  #repositories: Map<string, YumRepository> | undefined;

  constructor(readonly options: WorkspaceOptions) {
    this.store = options.store ?? new BlobStore(join(options.buildRoot, 'cache'));
    /** The lock of this build, the SBOM's input. */
    this.lockFile = join(options.buildRoot, 'packages.lock.json');
    /** The lock a release engineer commits next to the declarations. */
    this.committedLock = join(options.packagesFile, '..', 'packages.lock.json');
  }

  get declarations(): PackageDeclarations {
    this.#declarations ??= loadPackageDeclarations(this.options.packagesFile);
    return this.#declarations;
  }

  get repositories(): Map<string, YumRepository> {
    this.#repositories ??= new Map(
      this.declarations.repositories.map((repo) => [
        repo.name,
        new YumRepository(repo, this.options.mirrors, this.store),
      ]),
    );
    return this.#repositories;
  }

  /** The committed lock when it was resolved from the current declarations. */
  committed(): PackageLock | undefined {
    if (!existsSync(this.committedLock)) return undefined;
    const lock = readLock(this.committedLock);
    if (lock.inputs !== lockInputs(this.declarations)) {
      throw new BuildError(
        `${this.committedLock} was resolved from other declarations than ${this.options.packagesFile}; ` +
          'refresh it with `./build.ts rpm_lock` (needs the repositories) or delete it to resolve at build time',
      );
    }
    return lock;
  }

  /** The lock this build uses, if it exists and matches the declarations. */
  currentLock(): PackageLock | undefined {
    const committed = this.committed();
    if (committed) return committed;
    if (!existsSync(this.lockFile)) return undefined;
    const lock = readLock(this.lockFile);
    return lock.inputs === lockInputs(this.declarations) ? lock : undefined;
  }

  async missing(lock: PackageLock): Promise<LockedPackage[]> {
    const present = await Promise.all(lock.packages.map((pkg) => this.store.has(pkg.digest, pkg.size)));
    return lock.packages.filter((_, index) => !present[index]);
  }

  async missingKeys(lock: PackageLock): Promise<LockedKey[]> {
    const present = await Promise.all(lock.keys.map((key) => this.store.has(key.digest)));
    return lock.keys.filter((_, index) => !present[index]);
  }

  /** Repositories this build still needs: all of them to resolve, else those of missing packages. */
  async neededRepositories(): Promise<string[]> {
    const lock = this.currentLock();
    if (!lock) return this.declarations.repositories.map((repo) => repo.name);
    return [
      ...new Set([...(await this.missing(lock)), ...(await this.missingKeys(lock))].map((entry) => entry.repo)),
    ].sort();
  }

  async resolve(signal: AbortSignal): Promise<PackageLock> {
    const closure = await closureOver(
      [...this.repositories.values()],
      this.declarations.requests,
      new Set(this.declarations.exclude),
      signal,
    );
    const keys: LockedKey[] = [];
    for (const repo of this.declarations.repositories.filter((entry) => entry.iso)) {
      for (const [index, url] of repo.gpgkeys.entries()) {
        const bytes = await this.fetchKey(repo.name, url, signal);
        const digest = sha256Digest(bytes);
        await this.store.put(digest, bytes, url);
        keys.push({ repo: repo.name, url, file: repositoryKeyFile(repo.name, index), digest });
      }
    }
    return lockOf(this.declarations, closure, keys);
  }

  /** A public key, from its URL or from a path relative to the repository's (mirrored) base URL. */
  async fetchKey(repo: string, url: string, signal: AbortSignal): Promise<Buffer> {
    const repository = this.repositories.get(repo);
    if (!repository)
      throw new BuildError(`${this.options.packagesFile}: key ${url} of undeclared repository "${repo}"`);
    const absolute = /^[a-z]+:\/\//.test(url) ? url : repository.url(url);
    const response = await getWithRetries(absolute, { signal });
    if (response.status !== 200) {
      await response.body.dump();
      throw new BuildError(`${absolute}: HTTP ${response.status} (public key of repository ${repo})`);
    }
    return response.body.bytes(
      1 << 20,
      () => new BuildError(`${absolute}: larger than 1 MiB, not a public key (repository ${repo})`),
    );
  }

  /** Where a spec source is fetched from: its mirror when SOURCES_MIRROR is set. */
  sourceUrl(source: UrlSource): string {
    return this.options.sourcesMirror ? `${this.options.sourcesMirror}/${source.name}` : source.url;
  }

  /** Spec sources fetched by URL that the store lacks. */
  async missingSources(): Promise<UrlSource[]> {
    const sources = this.declarations.build
      .flatMap((pkg) => pkg.sources)
      .filter((source): source is UrlSource => source.url !== undefined);
    const present = await Promise.all(sources.map((source) => this.store.has(hexDigest(source.sha256!))));
    return sources.filter((_, index) => !present[index]);
  }

  /** What still needs the network: repositories, and spec sources missing from the store. */
  async neededSources(): Promise<{ repositories: string[]; sources: UrlSource[] }> {
    return { repositories: await this.neededRepositories(), sources: await this.missingSources() };
  }

  /** Stops within seconds, naming each repository and spec source still needed that does not answer. */
  async checkReachable(): Promise<string[]> {
    const { repositories, sources } = await this.neededSources();
    const [repoResults, sourceResults] = await Promise.all([
      Promise.all(
        repositories.map(async (name) => {
          const repo = this.repositories.get(name)!;
          return { name, baseurl: repo.baseurl, reason: await repo.probe() };
        }),
      ),
      Promise.all(
        sources.map(async (source) => ({
          name: source.name,
          url: this.sourceUrl(source),
          reason: await probe(this.sourceUrl(source), { method: 'HEAD' }),
        })),
      ),
    ]);
    const failed = <T extends { reason: string | undefined }>(list: T[]) =>
      list.filter((entry): entry is T & { reason: string } => entry.reason !== undefined);
    if (failed(repoResults).length > 0 || failed(sourceResults).length > 0)
      throw unreachableSources(failed(repoResults), failed(sourceResults));
    return [...repositories, ...sources.map((source) => source.name)];
  }

  /** Fetches what the lock names and the store lacks; resolves with the bytes downloaded. */
  async download(
    lock: PackageLock,
    options: { jobs: number; signal: AbortSignal; onBytes?: (total: number) => void },
  ): Promise<{ packages: number; bytes: number }> {
    for (const key of await this.missingKeys(lock)) {
      await this.store.put(
        key.digest,
        await this.fetchKey(key.repo, key.url, options.signal),
        `public key ${key.url} of repository ${key.repo}`,
      );
    }
    const missing = await this.missing(lock);
    const bytes = await fetchPackages(
      this.store,
      missing,
      (pkg) => {
        const repo = this.repositories.get(pkg.repo);
        if (!repo)
          throw new BuildError(
            `${this.lockFile}: ${nevra(pkg)} comes from repository "${pkg.repo}", which ${this.options.packagesFile} does not declare`,
          );
        return repo;
      },
      options,
    );
    return { packages: missing.length, bytes };
  }

  /** A spec source pinned by URL and sha256, in the store; its digest. */
  async fetchSource(source: UrlSource, owner: string, signal: AbortSignal): Promise<string> {
    const digest = hexDigest(source.sha256);
    const url = this.sourceUrl(source);
    await ingestRetrying(this.store, digest, rangeSource(url, signal, `source of ${owner}`), {
      signal,
      maxSize: this.options.sourceMaxBytes ?? SOURCE_MAX_BYTES,
      describe: () => `${url} (source ${source.name} of ${owner})`,
    });
    return digest;
  }
}

/**
 * The closure of `requests` over `repositories` (each one's priority counts), leaving out what
 * `exclude` names; `within` is how a missing name's error calls the repositories.
 */
export async function closureOver(
  repositories: readonly YumRepository[],
  requests: readonly PackageRequest[],
  exclude: ReadonlySet<string>,
  signal: AbortSignal,
  within?: string,
): Promise<RpmPackage[]> {
  return resolveClosure({
    packages: (await Promise.all(repositories.map((repo) => repo.packages(signal)))).flat(),
    priorities: new Map(repositories.map((repo) => [repo.source.name, repo.source.priority])),
    requests,
    exclude,
    ...(within ? { within } : {}),
    fileOwners: (paths) => ownersAcross(repositories, (repo) => repo.fileOwners(paths, signal)),
  });
}

/** Fetches locked packages into the store from their repositories, checksums verified, `jobs` at once; the bytes downloaded. */
export async function fetchPackages(
  store: BlobStore,
  packages: readonly LockedPackage[],
  repositoryOf: (pkg: LockedPackage) => YumRepository,
  options: { jobs: number; signal: AbortSignal; onBytes?: (total: number) => void },
): Promise<number> {
  const schedule = limitConcurrency(options.jobs);
  let bytes = 0;
  await Promise.all(
    packages.map((pkg) =>
      schedule(async () => {
        const url = repositoryOf(pkg).url(pkg.location);
        await ingestRetrying(store, pkg.digest, rangeSource(url, options.signal, nevra(pkg)), {
          size: pkg.size,
          signal: options.signal,
          describe: () => `${nevra(pkg)} from ${url}`,
          onBytes: (n) => options.onBytes?.((bytes += n)),
        });
      }),
    ),
  );
  return bytes;
}
