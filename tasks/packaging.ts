// packaging: the ISO's yum repositories under BUILD_ROOT/root/packages/redhat/<repo>-el7/, as
// upstream's yumdownloader + rpmbuild + createrepo in a CentOS container, without the container.
// Fetched packages are the dependency closure of packages-rpm/packages.yaml, pinned in a lock;
// built packages come from spec files with rpmbuild; every repository gets createrepo_c metadata.
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BuildConfig } from '../buildchain/config.ts';
import { limitConcurrency } from '../buildchain/concurrency.ts';
import type { TaskDefinition, TaskSpec } from '../buildchain/engine/task.ts';
import { BuildError } from '../buildchain/errors.ts';
import { copyFileAtomic, writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { getWithRetries, rangeSource } from '../buildchain/http.ts';
import { sha256Digest } from '../buildchain/oci/digest.ts';
import { BlobStore, ingestRetrying } from '../buildchain/oci/store.ts';
import { writeRepository, type RepositoryFile } from '../buildchain/rpm/createrepo.ts';
import { loadPackageDeclarations, type PackageDeclarations, type SpecPackage } from '../buildchain/rpm/declarations.ts';
import { formatLock, lockInputs, lockOf, readLock, type LockedKey, type LockedPackage, type PackageLock } from '../buildchain/rpm/lock.ts';
import { nevra } from '../buildchain/rpm/metadata.ts';
import { unreachableRepositories, YumRepository } from '../buildchain/rpm/repository.ts';
import { resolveClosure } from '../buildchain/rpm/resolve.ts';
import { buildRpms, buildSrpm } from '../buildchain/rpm/rpmbuild.ts';
import { signDetached, signPackages, type Signer } from '../buildchain/rpm/sign.ts';
import { requireExecutable } from '../buildchain/tools.ts';

export function rpmRepositoriesRoot(config: BuildConfig): string {
  return join(config.isoRoot, 'packages', 'redhat');
}

/** Where the ISO repository `<repo>-el7` of a source or build repository lands. */
function isoRepository(config: BuildConfig, repo: string): string {
  return join(rpmRepositoriesRoot(config), `${repo}-el7`);
}

/** Work state of one build: declarations read once, one store, one client per repository. */
class Packaging {
  readonly store: BlobStore;
  readonly lockFile: string;
  readonly committedLock: string;
  #declarations: PackageDeclarations | undefined;
  #repositories: Map<string, YumRepository> | undefined;

  constructor(readonly config: BuildConfig) {
    this.store = new BlobStore(join(config.buildRoot, 'cache'));
    this.lockFile = join(config.buildRoot, 'packages.lock.json');
    this.committedLock = join(config.packagesFile, '..', 'packages.lock.json');
  }

  get declarations(): PackageDeclarations {
    this.#declarations ??= loadPackageDeclarations(this.config.packagesFile);
    return this.#declarations;
  }

  get repositories(): Map<string, YumRepository> {
    this.#repositories ??= new Map(this.declarations.repositories.map((repo) => [repo.name, new YumRepository(repo, this.config.yumMirrors, this.store)]));
    return this.#repositories;
  }

  /** The committed lock when it was resolved from the current declarations. */
  committed(): PackageLock | undefined {
    if (!existsSync(this.committedLock)) return undefined;
    const lock = readLock(this.committedLock);
    if (lock.inputs !== lockInputs(this.declarations)) {
      throw new BuildError(`${this.committedLock} was resolved from other declarations than ${this.config.packagesFile}; `
        + 'refresh it with `./build.ts rpm_lock` (needs the repositories) or delete it to resolve at build time');
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
    return [...new Set([...await this.missing(lock), ...await this.missingKeys(lock)].map((entry) => entry.repo))].sort();
  }

  async resolve(signal: AbortSignal): Promise<PackageLock> {
    const repositories = [...this.repositories.values()];
    const packages = (await Promise.all(repositories.map((repo) => repo.packages(signal)))).flat();
    const closure = await resolveClosure({
      packages,
      priorities: new Map(this.declarations.repositories.map((repo) => [repo.name, repo.priority])),
      requests: this.declarations.requests,
      exclude: new Set(this.declarations.exclude),
      fileOwners: async (paths) => {
        const owners = new Map<string, string[]>();
        for (const repo of repositories) {
          for (const [path, ids] of await repo.fileOwners(paths, signal)) owners.set(path, [...(owners.get(path) ?? []), ...ids]);
        }
        return owners;
      },
    });
    const keys: LockedKey[] = [];
    for (const repo of this.declarations.repositories.filter((entry) => entry.iso)) {
      for (const [index, url] of repo.gpgkeys.entries()) {
        const bytes = await this.fetchKey(repo.name, url, signal);
        const digest = sha256Digest(bytes);
        await this.store.put(digest, bytes, url);
        keys.push({ repo: repo.name, url, file: `RPM-GPG-KEY-metalk8s-${repo.name}-7_${index + 1}`, digest });
      }
    }
    return lockOf(this.declarations, closure, keys);
  }

  /** A public key, from its URL or from a path relative to the repository's (mirrored) base URL. */
  async fetchKey(repo: string, url: string, signal: AbortSignal): Promise<Buffer> {
    const repository = this.repositories.get(repo);
    if (!repository) throw new BuildError(`${this.config.packagesFile}: key ${url} of undeclared repository "${repo}"`);
    const absolute = /^[a-z]+:\/\//.test(url) ? url : repository.url(url);
    const response = await getWithRetries(absolute, { signal });
    if (response.status !== 200) {
      await response.body.dump();
      throw new BuildError(`${absolute}: HTTP ${response.status} (public key of repository ${repo})`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > 1 << 20) throw new BuildError(`${absolute}: larger than 1 MiB, not a public key (repository ${repo})`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }
}

const states = new WeakMap<BuildConfig, Packaging>();
function packagingFor(config: BuildConfig): Packaging {
  let state = states.get(config);
  if (!state) states.set(config, (state = new Packaging(config)));
  return state;
}

export function packagingTasks(config: BuildConfig): TaskDefinition[] {
  const work = packagingFor(config);
  const root = rpmRepositoriesRoot(config);
  return [
    {
      name: 'packaging',
      doc: 'Build the ISO\'s yum repositories: fetched packages with their dependencies, and packages built from spec.',
      task_dep: ['_download_rpm_packages', '_build_rpm_packages', '_build_rpm_repositories'],
    },
    {
      name: '_package_mkdir_rpm_iso_root',
      doc: 'Create the RPM repositories directory of the ISO tree.',
      targets: [root],
      uptodate: [true],
      task_dep: ['_iso_mkdir_root'],
      actions: [async () => void (await mkdir(root, { recursive: true }))],
      clean: true,
    },
    {
      name: '_package_check_repositories',
      doc: 'Stop within seconds if a yum repository that packages must come from does not answer.',
      // Only repositories still needed are asked: with the lock resolved and the packages in the
      // store, a build needs no network.
      uptodate: [async () => (await work.neededRepositories()).length === 0],
      actions: [async (ctx) => {
        const names = await work.neededRepositories();
        const results = await Promise.all(names.map(async (name) => {
          const repo = work.repositories.get(name)!;
          return { name, baseurl: repo.baseurl, reason: await repo.probe() };
        }));
        const unreachable = results.filter((entry): entry is typeof entry & { reason: string } => entry.reason !== undefined);
        if (unreachable.length > 0) throw unreachableRepositories(unreachable);
        ctx.log(`reachable: ${names.join(', ')}`);
      }],
    },
    {
      name: '_resolve_rpm_packages',
      doc: 'Resolve the dependency closure of the declared packages into BUILD_ROOT/packages.lock.json (or take the committed lock).',
      task_dep: ['_build_root', '_package_check_repositories'],
      file_dep: [config.packagesFile, ...(existsSync(work.committedLock) ? [work.committedLock] : [])],
      targets: [work.lockFile],
      actions: [async (ctx) => {
        const committed = work.committed();
        if (committed) {
          await copyFileAtomic(work.committedLock, work.lockFile);
          ctx.log(`${committed.packages.length} packages from ${work.committedLock}`);
          return;
        }
        const lock = await work.resolve(ctx.signal);
        await writeFileAtomic(work.lockFile, formatLock(lock));
        ctx.log(`${lock.packages.length} packages in the closure of ${work.declarations.requests.length} declared`);
      }],
      clean: true,
    },
    {
      name: 'rpm_lock',
      doc: 'Resolve the package closure from the repositories and write packages-rpm/packages.lock.json, to commit.',
      task_dep: ['_build_root'],
      actions: [async (ctx) => {
        const lock = await work.resolve(ctx.signal);
        await writeFileAtomic(work.committedLock, formatLock(lock));
        ctx.log(`${work.committedLock}: ${lock.packages.length} packages`);
      }],
    },
    {
      name: '_download_rpm_packages',
      doc: 'Download the locked packages into the blob store, checksums verified.',
      task_dep: ['_resolve_rpm_packages'],
      file_dep: [work.lockFile],
      uptodate: [async () => {
        const lock = readLock(work.lockFile);
        return (await work.missing(lock)).length === 0 && (await work.missingKeys(lock)).length === 0;
      }],
      actions: [async (ctx) => {
        const lock = readLock(work.lockFile);
        for (const key of await work.missingKeys(lock)) await work.store.put(key.digest, await work.fetchKey(key.repo, key.url, ctx.signal), `public key ${key.url} of repository ${key.repo}`);
        const missing = await work.missing(lock);
        const schedule = limitConcurrency(config.pullJobs);
        let done = 0;
        await Promise.all(missing.map((pkg) => schedule(async () => {
          const repo = work.repositories.get(pkg.repo);
          if (!repo) throw new BuildError(`${work.lockFile}: ${nevra(pkg)} comes from repository "${pkg.repo}", which ${config.packagesFile} does not declare`);
          const url = repo.url(pkg.location);
          await ingestRetrying(work.store, pkg.digest, rangeSource(url, ctx.signal, nevra(pkg)), { size: pkg.size, signal: ctx.signal, describe: () => `${nevra(pkg)} from ${url}`, onBytes: (bytes) => ctx.progress((done += bytes)) });
        })));
        ctx.log(`${missing.length} packages, ${done} bytes downloaded`);
      }],
    },
    {
      basename: '_build_rpm_packages',
      doc: 'Build packages from their spec files (sources, source package, binary packages).',
      after: [],
      create: () => work.declarations.build.flatMap((pkg) => specTasks(config, work, pkg)),
    },
    {
      basename: '_build_rpm_repositories',
      doc: 'Lay out each ISO yum repository (<repo>-el7) and its createrepo_c metadata.',
      after: [],
      create: () => {
        const shipped = work.declarations.repositories.filter((repo) => repo.iso).map((repo) => repo.name);
        const names = [...new Set([...shipped, ...work.declarations.build.map((pkg) => pkg.repository)])].sort();
        return names.map((name) => repositoryTask(config, work, name));
      },
    },
  ];
}

/** The signer of built packages and repository metadata, when GPG_KEY names a key. */
function signerFor(config: BuildConfig, signal: AbortSignal): Signer | undefined {
  if (!config.gpgKey) return undefined;
  return {
    gpg: requireExecutable(config.bin.gpg, 'GPG_BIN'), rpmsign: requireExecutable('rpmsign'),
    key: config.gpgKey, sourceDateEpoch: config.sourceDateEpoch, signal,
  };
}

function topdir(config: BuildConfig, pkg: SpecPackage): string {
  return join(config.buildRoot, 'rpmbuild', pkg.name);
}

/** The list of binary packages a spec build made, written by its `rpm` step. */
function builtList(config: BuildConfig, pkg: SpecPackage): string {
  return join(topdir(config, pkg), 'built.txt');
}

function specTasks(config: BuildConfig, work: Packaging, pkg: SpecPackage): TaskSpec[] {
  const dir = topdir(config, pkg);
  const sources = pkg.sources.map((source) => join(dir, 'SOURCES', source.name));
  const srpm = join(dir, 'SRPMS', `${pkg.name}-${pkg.version}-${pkg.release}.el7.src.rpm`);
  const options = (signal: AbortSignal) => ({ rpmbuild: requireExecutable(config.bin.rpmbuild, 'RPMBUILD_BIN'), topdir: dir, sourceDateEpoch: config.sourceDateEpoch, signal });
  return [
    {
      name: `_build_rpm_packages:${pkg.name}/get_source`,
      title: `_build_rpm_packages: ${pkg.name} sources`,
      task_dep: ['_build_root'],
      file_dep: pkg.sources.flatMap((source) => (source.file ? [source.file] : [])),
      targets: sources,
      uptodate: [pkg.sources.map((source) => source.url ? `${source.name}=${source.url}@${source.sha256}` : source.name)],
      actions: [async (ctx) => {
        for (const source of pkg.sources) {
          const target = join(dir, 'SOURCES', source.name);
          if (source.file) {
            await copyFileAtomic(source.file, target);
            continue;
          }
          const digest = `sha256:${source.sha256!}`;
          await ingestRetrying(work.store, digest, rangeSource(source.url!, ctx.signal, `source of ${pkg.name}`), { signal: ctx.signal, describe: () => `${source.url!} (source ${source.name} of ${pkg.name})` });
          await work.store.linkTo(digest, target);
        }
      }],
      clean: true,
    },
    {
      name: `_build_rpm_packages:${pkg.name}/srpm`,
      title: `_build_rpm_packages: ${basename(srpm)}`,
      task_dep: [`_build_rpm_packages:${pkg.name}/get_source`],
      file_dep: [pkg.spec, ...sources],
      targets: [srpm],
      uptodate: [config.sourceDateEpoch ?? null],
      actions: [async (ctx) => {
        await rm(join(dir, 'SRPMS'), { recursive: true, force: true });
        await buildSrpm(pkg, options(ctx.signal));
      }],
      clean: true,
    },
    {
      name: `_build_rpm_packages:${pkg.name}/rpm`,
      title: `_build_rpm_packages: ${pkg.name}-${pkg.version}-${pkg.release}.el7 binary packages`,
      task_dep: [`_build_rpm_packages:${pkg.name}/srpm`],
      file_dep: [srpm],
      targets: [builtList(config, pkg)],
      uptodate: [config.sourceDateEpoch ?? null, config.gpgKey ?? null],
      actions: [async (ctx) => {
        // A topdir of its own: --rebuild removes the sources it unpacks, which get_source owns.
        const rebuild = join(dir, 'rebuild');
        await rm(rebuild, { recursive: true, force: true });
        const rpms = await buildRpms(srpm, { ...options(ctx.signal), topdir: rebuild });
        const signer = signerFor(config, ctx.signal);
        if (signer) await signPackages(rpms, signer);
        await writeFileAtomic(builtList(config, pkg), `${rpms.join('\n')}\n`);
        ctx.log(rpms.map((rpm) => basename(rpm)).join('\n'));
      }],
      clean: true,
    },
  ];
}

function repositoryTask(config: BuildConfig, work: Packaging, name: string): TaskSpec {
  const dir = isoRepository(config, name);
  const built = work.declarations.build.filter((pkg) => pkg.repository === name);
  const fetches = work.declarations.repositories.some((repo) => repo.name === name && repo.iso);
  return {
    name: `_build_rpm_repositories:${name}`,
    title: `_build_rpm_repositories: ${basename(dir)}`,
    task_dep: ['_package_mkdir_rpm_iso_root', ...(fetches ? ['_download_rpm_packages'] : []), ...built.map((pkg) => `_build_rpm_packages:${pkg.name}/rpm`)],
    file_dep: [...(fetches ? [work.lockFile] : []), ...built.map((pkg) => builtList(config, pkg))],
    targets: [dir],
    uptodate: [config.sourceDateEpoch ?? null, config.gpgKey ?? null, () => existsSync(join(dir, 'repodata', 'repomd.xml'))],
    actions: [async (ctx) => {
      const files: RepositoryFile[] = [];
      if (fetches) {
        const lock = readLock(work.lockFile);
        for (const pkg of lock.packages.filter((entry) => entry.repo === name)) {
          files.push({ name: basename(pkg.location), place: (path) => work.store.linkTo(pkg.digest, path) });
        }
        for (const key of lock.keys.filter((entry) => entry.repo === name)) {
          files.push({ name: key.file, place: (path) => work.store.linkTo(key.digest, path) });
        }
      }
      for (const pkg of built) {
        for (const rpm of (await readFile(builtList(config, pkg), 'utf8')).split('\n').filter(Boolean)) {
          files.push({ name: basename(rpm), place: (path) => linkFile(rpm, path) });
        }
      }
      const seen = new Set<string>();
      for (const file of files) {
        if (seen.has(file.name)) throw new BuildError(`${basename(dir)}: two packages are named ${file.name}`);
        seen.add(file.name);
      }
      const signer = signerFor(config, ctx.signal);
      await writeRepository(dir, files, {
        createrepo: requireExecutable(config.bin.createrepo, 'CREATEREPO_BIN'), sourceDateEpoch: config.sourceDateEpoch, signal: ctx.signal,
        ...(signer ? { signMetadata: (repomd: string) => signDetached(repomd, signer) } : {}),
      });
      ctx.log(`${basename(dir)}: ${files.length} packages`);
    }],
    clean: async ({ dryRun, log }) => {
      log(`${dryRun ? 'would remove' : 'removing'} ${dir}`);
      if (!dryRun) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function linkFile(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(source, target);
  }
}
