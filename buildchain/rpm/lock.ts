// The resolved package closure, written to BUILD_ROOT/packages.lock.json: what the ISO's
// repositories hold (name, EVR, arch, checksum, source repository), read by the SBOM. Committed
// as packages-rpm/packages.lock.json, it replaces resolution: the build fetches exactly those
// files, with no metadata download, and is reproducible.
import { BuildError } from '../errors.ts';
import { parseJsonText, readTextFile } from '../json-file.ts';
import { sha256Digest } from '../store/sha256.ts';
import type { PackageDeclarations } from './declarations.ts';
import type { RpmPackage } from './metadata.ts';
import { storeDigest } from './repository.ts';

export interface LockedPackage {
  name: string;
  epoch: string;
  version: string;
  release: string;
  arch: string;
  repo: string;
  /** Relative to the repository's base URL. */
  location: string;
  size: number;
  digest: string;
}

/** A repository's n-th key (from 0) as upstream's ISO names it, beside the repository's packages. */
export function repositoryKeyFile(repo: string, index: number): string {
  return `RPM-GPG-KEY-metalk8s-${repo}-7_${index + 1}`;
}

/** A repository's public key, as fetched when the closure was resolved. */
export interface LockedKey {
  repo: string;
  /** As declared: a URL, or a path relative to the repository's base URL. */
  url: string;
  /** Its name in the ISO repository: RPM-GPG-KEY-metalk8s-<repo>-7_<n>. */
  file: string;
  digest: string;
}

export interface PackageLock {
  lockVersion: 1;
  /** Digest of the declarations the closure was resolved from: a changed declaration stales it. */
  inputs: string;
  packages: LockedPackage[];
  keys: LockedKey[];
}

/** What the closure depends on: repositories, requests and exclusions (mirrors are copies: not). */
export function lockInputs(declarations: PackageDeclarations): string {
  return sha256Digest(
    JSON.stringify({
      repositories: declarations.repositories.map(({ name, baseurl, priority, gpgkeys, iso }) => ({
        name,
        baseurl,
        priority,
        gpgkeys,
        iso,
      })),
      requests: declarations.requests.map(({ name, version }) => ({ name, version: version ?? null })),
      exclude: [...declarations.exclude].sort(),
    }),
  );
}

/** The lock of a resolved closure: only packages of repositories the ISO ships. */
export function lockOf(
  declarations: PackageDeclarations,
  closure: readonly RpmPackage[],
  keys: LockedKey[],
): PackageLock {
  const shipped = new Set(declarations.repositories.filter((repo) => repo.iso).map((repo) => repo.name));
  const packages = closure.filter((pkg) => shipped.has(pkg.repo));
  return {
    lockVersion: 1,
    inputs: lockInputs(declarations),
    keys,
    packages: packages.map(lockedPackage),
  };
}

/** What a lock keeps of a chosen package: enough to fetch and check it without metadata. */
export function lockedPackage(pkg: RpmPackage): LockedPackage {
  return {
    name: pkg.name,
    epoch: pkg.epoch,
    version: pkg.version,
    release: pkg.release,
    arch: pkg.arch,
    repo: pkg.repo,
    location: pkg.location,
    size: pkg.size,
    digest: storeDigest(pkg.checksum, `${pkg.repo}: ${pkg.location}`),
  };
}

/** A lock as written to disk: indented JSON, one field per line, for reviewable diffs. */
export function formatLock(lock: object): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}

export function readLock(file: string): PackageLock {
  return parseLock(readTextFile(file), file);
}

/** A lock from its text; errors name `file`. */
export function parseLock(text: string, file: string): PackageLock {
  const lock = parseJsonText<PackageLock>(text, file, 'a package lock');
  if (
    lock.lockVersion !== 1 ||
    typeof lock.inputs !== 'string' ||
    !Array.isArray(lock.packages) ||
    !Array.isArray(lock.keys)
  ) {
    throw new BuildError(`${file}: not a package lock of version 1 (lockVersion, inputs, packages, keys)`);
  }
  for (const [index, key] of lock.keys.entries()) {
    if (
      typeof key.repo !== 'string' ||
      typeof key.url !== 'string' ||
      !/^RPM-GPG-KEY-[A-Za-z0-9._-]+$/.test(String(key.file)) ||
      !/^sha256:[a-f0-9]{64}$/.test(String(key.digest))
    ) {
      throw new BuildError(`${file}: keys[${index}] needs repo, url, file (RPM-GPG-KEY-...) and a sha256 digest`);
    }
  }
  checkLockedPackages(lock.packages, `${file}: packages`);
  return lock;
}

/** Refuses locked packages that lack a field, a sha256 digest or a location inside their repository; errors start with `where`. */
export function checkLockedPackages(packages: readonly LockedPackage[], where: string): void {
  for (const [index, pkg] of packages.entries()) {
    for (const key of ['name', 'epoch', 'version', 'release', 'arch', 'repo', 'location', 'digest'] as const) {
      if (typeof pkg[key] !== 'string' || pkg[key] === '') throw new BuildError(`${where}[${index}].${key} is missing`);
    }
    if (!/^sha256:[a-f0-9]{64}$/.test(pkg.digest))
      throw new BuildError(`${where}[${index}].digest "${pkg.digest}" is not a sha256 digest`);
    if (/(^|\/)\.\.(\/|$)/.test(pkg.location) || pkg.location.startsWith('/'))
      throw new BuildError(`${where}[${index}].location "${pkg.location}" leaves the repository`);
  }
}
