// The packages of image layers that come from yum repositories over HTTP (named in
// packages-rpm/packages.yaml, or declared in the layer) rather than from the ISO's own: pinned
// per image as the ISO's packages are. They are resolved once, through the repositories'
// mirrors, into BUILD_ROOT/image-packages/<image>.lock.json, or read from packages.lock.json
// committed beside the image's definition; then fetched by checksum into the shared store. With
// the lock and the store, a rebuild needs no network.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BuildError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { parseJsonText, readTextFile } from '../json-file.ts';
import type { BuildSpec } from './build-spec.ts';
import type { LayerPackage, LayerRepository } from './layer.ts';
import { sha256Digest } from '../store/sha256.ts';
import { checkLockedPackages, formatLock, lockedPackage, type LockedPackage } from '../rpm/lock.ts';
import { YumRepository } from '../rpm/repository.ts';
import { closureOver, fetchPackages, type PackageWorkspace } from '../rpm/workspace.ts';

/** Where a build keeps the image package locks it resolves. */
export function imageLocksDir(buildRoot: string): string {
  return join(buildRoot, 'image-packages');
}

/** The packages of a definition's layers that name their repositories; undefined when none does. */
export function layerPackagesOf(
  spec: BuildSpec,
  image: string,
  workspace: PackageWorkspace,
  options: { lockDir?: string; jobs: number },
): LayerPackages | undefined {
  const layers = spec.layers.flatMap((layer, index) =>
    layer.packages && layer.repositories
      ? [{ index, where: `${spec.file}: layers[${index}]`, packages: layer.packages, repositories: layer.repositories }]
      : [],
  );
  return layers.length === 0
    ? undefined
    : new LayerPackages({ workspace, definition: spec.file, image, base: spec.base?.digest, layers, ...options });
}

/** A packages layer that names its repositories. */
export interface RemoteLayer {
  index: number;
  /** `<definition>: layers[<index>]`, for errors. */
  where: string;
  packages: LayerPackage[];
  repositories: LayerRepository[];
}

export interface ImagePackageLock {
  lockVersion: 1;
  /** Digest of what the closures were resolved from: base image, packages, repositories. */
  inputs: string;
  layers: { layer: number; packages: LockedPackage[] }[];
}

export interface LayerPackagesOptions {
  /** The declared repositories, the mirrors and the store. */
  workspace: PackageWorkspace;
  /** The image's definition (image.yaml) and name. */
  definition: string;
  image: string;
  /** The base image's digest: what it has installed is left out of the closures. */
  base: string | undefined;
  layers: RemoteLayer[];
  /** Where the build keeps the locks it resolves (BUILD_ROOT/image-packages); none: nothing is kept. */
  lockDir?: string;
  jobs: number;
}

export class LayerPackages {
  /** The lock a release engineer commits beside the definition. */
  readonly committedLock: string;
  /** The lock this build resolved, if it keeps one. */
  readonly lockFile: string | undefined;
  readonly #inline = new Map<string, YumRepository>();
  readonly #resolved: ImagePackageLock['layers'] = [];
  #lock: ImagePackageLock | undefined | null = null;

  constructor(readonly options: LayerPackagesOptions) {
    this.committedLock = join(dirname(options.definition), 'packages.lock.json');
    this.lockFile = options.lockDir && join(options.lockDir, `${options.image}.lock.json`);
  }

  /** A layer's repositories: those named from the packages file, the others as the layer declares them. */
  repositoriesOf(layer: RemoteLayer): YumRepository[] {
    const { workspace } = this.options;
    return layer.repositories.map((entry, position) => {
      const where = `${layer.where}.repositories[${position}]`;
      if (typeof entry === 'string') {
        const declared = workspace.repositories.get(entry);
        if (!declared)
          throw new BuildError(
            `${where}: "${entry}" is not a repository of ${workspace.options.packagesFile}; declare it there, or here with {name, baseurl}`,
          );
        return declared;
      }
      if (existsSync(workspace.options.packagesFile) && workspace.repositories.has(entry.name))
        throw new BuildError(
          `${where}: "${entry.name}" is a repository of ${workspace.options.packagesFile} already; name it alone, or give this one another name`,
        );
      let repo = this.#inline.get(entry.name);
      if (repo && repo.source.baseurl !== entry.baseurl)
        throw new BuildError(`${where}: "${entry.name}" is declared twice with different base URLs`);
      repo ??= new YumRepository(entry, workspace.options.mirrors, workspace.store);
      this.#inline.set(entry.name, repo);
      return repo;
    });
  }

  /** What the closures depend on (mirrors are copies: not). */
  inputs(): string {
    return sha256Digest(
      JSON.stringify({
        base: this.options.base ?? null,
        layers: this.options.layers.map((layer) => ({
          layer: layer.index,
          packages: layer.packages.map(({ name, version }) => ({ name, version: version ?? null })),
          repositories: this.repositoriesOf(layer).map(({ source }) => ({
            name: source.name,
            baseurl: source.baseurl,
            priority: source.priority,
          })),
        })),
      }),
    );
  }

  /** The committed lock when it matches the definition (else an error), or the build's own when it does. */
  current(): ImagePackageLock | undefined {
    const inputs = this.inputs();
    if (existsSync(this.committedLock)) {
      const lock = readImageLock(this.committedLock);
      if (lock.inputs !== inputs) {
        throw new BuildError(
          `${this.committedLock} was resolved from another ${this.options.definition} (packages, repositories or base); ` +
            `delete it, build, and commit ${this.lockFile ?? 'the lock the build writes'} in its place`,
        );
      }
      return lock;
    }
    if (!this.lockFile || !existsSync(this.lockFile)) return undefined;
    const lock = readImageLock(this.lockFile);
    return lock.inputs === inputs ? lock : undefined;
  }

  /** The repositories a build still needs: all of them without a lock, else those of packages the store lacks. */
  async needed(): Promise<YumRepository[]> {
    const lock = this.current();
    const byName = new Map(
      this.options.layers.flatMap((layer) => this.repositoriesOf(layer)).map((repo) => [repo.source.name, repo]),
    );
    if (!lock) return [...byName.values()];
    const { store } = this.options.workspace;
    const locked = lock.layers.flatMap((layer) => layer.packages);
    const present = await Promise.all(locked.map((pkg) => store.has(pkg.digest, pkg.size)));
    const names = new Set(locked.filter((_, index) => !present[index]).map((pkg) => pkg.repo));
    return [...byName.values()].filter((repo) => names.has(repo.source.name));
  }

  /**
   * The RPM files (in the store) of a layer's packages and what they require beyond `installed`:
   * from the lock, else resolved now; fetched when the store lacks them.
   */
  async files(index: number, installed: ReadonlySet<string>, signal: AbortSignal): Promise<string[]> {
    const layer = this.options.layers.find((entry) => entry.index === index);
    if (!layer) throw new BuildError(`${this.options.definition}: layers[${index}] names no repositories`);
    const repositories = this.repositoriesOf(layer);
    if (this.#lock === null) this.#lock = this.current();
    let packages = this.#lock?.layers.find((entry) => entry.layer === index)?.packages;
    if (!packages) {
      // A name the base has already is not installed again, as yum says "already installed".
      const requests = layer.packages
        .filter((pkg) => !installed.has(pkg.name))
        .map((pkg) => ({ ...pkg, where: layer.where }));
      const closure = await closureOver(
        repositories,
        requests,
        installed,
        signal,
        `repositories ${repositories.map((repo) => repo.source.name).join(', ')}`,
      );
      packages = closure.map(lockedPackage);
      this.#resolved.push({ layer: index, packages });
    }
    const { store } = this.options.workspace;
    const present = await Promise.all(packages.map((pkg) => store.has(pkg.digest, pkg.size)));
    const byName = new Map(repositories.map((repo) => [repo.source.name, repo]));
    await fetchPackages(
      store,
      packages.filter((_, position) => !present[position]),
      (pkg) => {
        const repo = byName.get(pkg.repo);
        if (!repo)
          throw new BuildError(
            `the package lock of image ${this.options.image}: ${pkg.name} comes from repository "${pkg.repo}", which ${layer.where} does not name`,
          );
        return repo;
      },
      { jobs: this.options.jobs, signal },
    );
    return packages.map((pkg) => store.path(pkg.digest));
  }

  /** Keeps what this build resolved as the build's lock (nothing when a lock was used). */
  async save(): Promise<void> {
    if (!this.lockFile || this.#resolved.length === 0) return;
    const lock: ImagePackageLock = {
      lockVersion: 1,
      inputs: this.inputs(),
      layers: [...this.#resolved].sort((a, b) => a.layer - b.layer),
    };
    await writeFileAtomic(this.lockFile, formatLock(lock));
  }
}

export function readImageLock(file: string): ImagePackageLock {
  return parseImageLock(readTextFile(file), file);
}

/** An image's package lock from its text; errors name `file`. */
export function parseImageLock(text: string, file: string): ImagePackageLock {
  const lock = parseJsonText<ImagePackageLock>(text, file, 'an image package lock');
  if (
    lock.lockVersion !== 1 ||
    typeof lock.inputs !== 'string' ||
    !Array.isArray(lock.layers) ||
    lock.layers.some((layer) => !Number.isInteger(layer?.layer) || !Array.isArray(layer.packages))
  ) {
    throw new BuildError(
      `${file}: not an image package lock of version 1 (lockVersion, inputs, layers of {layer, packages})`,
    );
  }
  for (const [index, layer] of lock.layers.entries())
    checkLockedPackages(layer.packages, `${file}: layers[${index}].packages`);
  return lock;
}
