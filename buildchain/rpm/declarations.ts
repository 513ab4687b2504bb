// The package declarations file (packages-rpm/packages.yaml), edited by release engineers:
// source repositories, packages to fetch with their dependency closure, names the target OS
// already has, and packages built from spec files with their sources pinned by sha256.
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { readDeclarations } from '../schema/yaml.ts';
import { uniqueNames } from '../yaml-file.ts';
import validatePackages from './packages.validate.cjs';
import type { PackageRequest } from './resolve.ts';
import type { RepositorySource } from './repository.ts';

export interface DeclaredRepository extends RepositorySource {
  /**
   * Public keys of the repository's signatures (URLs, or paths relative to the base URL, which
   * then follow its mirror), placed next to its packages in the ISO.
   */
  gpgkeys: string[];
  /** false: the node's OS repositories provide these packages; they only satisfy dependencies. */
  iso: boolean;
}

export interface SpecSource {
  /** File name in SOURCES/. */
  name: string;
  /** A URL pinned by sha256, or a file next to the declarations. */
  url?: string;
  sha256?: string;
  file?: string;
}

export interface SpecPackage {
  name: string;
  version: string;
  /** Without the dist tag: `1` gives `1.el7`. */
  release: string;
  spec: string;
  sources: SpecSource[];
  /** The ISO repository the built package lands in. */
  repository: string;
}

export interface PackageDeclarations {
  file: string;
  repositories: DeclaredRepository[];
  requests: PackageRequest[];
  exclude: string[];
  build: SpecPackage[];
}

/** A repository's name, base URL and priority (packages.schema.json's repositorySource, checked). */
export interface RepositoryEntry {
  name: string;
  baseurl: string;
  priority?: number;
}

/** A repository as packages.yaml and image package layers declare it: priority 99 unless given. */
export function repositorySource(entry: RepositoryEntry): RepositorySource {
  return { name: entry.name, baseurl: entry.baseurl, priority: entry.priority ?? 99 };
}

/** packages.yaml's shape: what the loader reads once the schema has checked it. */
interface PackagesFile {
  repositories?: (RepositoryEntry & { gpgkeys?: string[]; iso?: boolean })[];
  packages?: { name: string; version?: string }[];
  exclude?: string[];
  build?: {
    name: string;
    version: string;
    release: string;
    spec: string;
    repository?: string;
    sources?: { url?: string; sha256?: string; file?: string; name?: string }[];
  }[];
}

/**
 * The declarations of `file`. Their shape is packages.schema.json's to check; what a schema cannot
 * say is checked here: names are unique, files exist, built packages go to a repository of their own.
 */
export function loadPackageDeclarations(file: string): PackageDeclarations {
  const doc = readDeclarations(file, validatePackages, 'PACKAGES_FILE') as PackagesFile;
  const unique = uniqueNames(file);
  const label = (key: string, index: number, name: string) => `${key}[${index}] (${name})`;

  const repositories = (doc.repositories ?? []).map((entry, index): DeclaredRepository => {
    unique(`repository:${entry.name}`, label('repositories', index, entry.name));
    return { ...repositorySource(entry), gpgkeys: entry.gpgkeys ?? [], iso: entry.iso ?? true };
  });

  const requests = (doc.packages ?? []).map((entry, index): PackageRequest => {
    const where = label('packages', index, entry.name);
    unique(`package:${entry.name}`, where);
    return { name: entry.name, version: entry.version, where: `${file}: ${where}` };
  });

  const repoNames = new Set(repositories.map((repo) => repo.name));
  const build = (doc.build ?? []).map((entry, index): SpecPackage => {
    const where = label('build', index, entry.name);
    unique(`package:${entry.name}`, where);
    const spec = resolve(dirname(file), entry.spec);
    if (!existsSync(spec)) throw new BuildError(`${file}: ${where}.spec: ${spec} does not exist`);
    const repository = entry.repository ?? 'scality';
    if (repoNames.has(repository))
      throw new BuildError(
        `${file}: ${where}.repository "${repository}" is a source repository; built packages go to their own (e.g. scality)`,
      );
    const sources = (entry.sources ?? []).map((source, position): SpecSource => {
      const at = `${where}.sources[${position}]`;
      if (source.url !== undefined)
        return { name: source.name ?? basename(new URL(source.url).pathname), url: source.url, sha256: source.sha256! };
      const path = resolve(dirname(file), source.file!);
      if (!existsSync(path)) throw new BuildError(`${file}: ${at}.file: ${path} does not exist`);
      return { name: source.name ?? basename(path), file: path };
    });
    return { name: entry.name, version: entry.version, release: entry.release, spec, sources, repository };
  });
  return { file, repositories, requests, exclude: doc.exclude ?? [], build };
}
