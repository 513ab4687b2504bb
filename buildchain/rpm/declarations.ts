// The package declarations file (packages-rpm/packages.yaml), edited by release engineers:
// source repositories, packages to fetch with their dependency closure, names the target OS
// already has, and packages built from spec files with their sources pinned by sha256.
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { digestHex, hexDigest, parseDigest } from '../store/sha256.ts';
import { declarationReader, isRecord, readYamlFile } from '../yaml-file.ts';
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

export const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const REPOSITORY = /^[a-z0-9][a-z0-9_-]*$/;

/** A repository's name, base URL and priority, as packages.yaml and image package layers declare them. */
export function readRepositorySource(file: string, entry: Record<string, unknown>, where: string): RepositorySource {
  const read = declarationReader(file, entry);
  const name = read.string(entry, 'name', where);
  if (!REPOSITORY.test(name))
    throw new BuildError(`${file}: ${where}.name "${name}" must be lowercase letters, digits, _ and -`);
  const baseurl = read.string(entry, 'baseurl', where);
  if (!/^(https?|file):\/\//.test(baseurl))
    throw new BuildError(`${file}: ${where}.baseurl "${baseurl}" must be an http(s):// or file:// URL`);
  const priority = entry.priority ?? 99;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 1)
    throw new BuildError(`${file}: ${where}.priority must be a positive integer (lower wins)`);
  return { name, baseurl, priority };
}

export function loadPackageDeclarations(file: string): PackageDeclarations {
  const doc = readYamlFile(file, 'PACKAGES_FILE');
  if (!isRecord(doc))
    throw new BuildError(`${file}: expected a mapping with "repositories", "packages", "exclude" and "build"`);
  const read = declarationReader(file, doc);
  const named = (entry: Record<string, unknown>, where: string, pattern: RegExp, rule: string): string => {
    const name = read.string(entry, 'name', where);
    if (!pattern.test(name)) throw new BuildError(`${file}: ${where}.name "${name}" ${rule}`);
    return name;
  };
  const label = (key: string, index: number, entry: Record<string, unknown>) =>
    `${key}[${index}]${typeof entry.name === 'string' ? ` (${entry.name})` : ''}`;

  const repositories = read.list('repositories').map((entry, index): DeclaredRepository => {
    const where = label('repositories', index, entry);
    const { name, baseurl, priority } = readRepositorySource(file, entry, where);
    read.unique(`repository:${name}`, where);
    const gpgkeys = entry.gpgkeys ?? [];
    if (!Array.isArray(gpgkeys) || gpgkeys.some((key) => typeof key !== 'string'))
      throw new BuildError(`${file}: ${where}.gpgkeys must be a list of URLs`);
    const iso = entry.iso ?? true;
    if (typeof iso !== 'boolean') throw new BuildError(`${file}: ${where}.iso must be true or false`);
    return { name, baseurl, priority, gpgkeys: gpgkeys as string[], iso };
  });

  const requests = read.list('packages').map((entry, index): PackageRequest => {
    const where = label('packages', index, entry);
    const name = named(entry, where, PACKAGE_NAME, 'is not a package name');
    read.unique(`package:${name}`, where);
    return { name, version: read.optionalString(entry, 'version', where), where: `${file}: ${where}` };
  });

  const exclude = doc.exclude ?? [];
  if (!Array.isArray(exclude) || exclude.some((name) => typeof name !== 'string'))
    throw new BuildError(`${file}: "exclude" must be a list of package names`);

  const repoNames = new Set(repositories.map((repo) => repo.name));
  const build = read.list('build').map((entry, index): SpecPackage => {
    const where = label('build', index, entry);
    const name = named(entry, where, PACKAGE_NAME, 'is not a package name');
    read.unique(`package:${name}`, where);
    const spec = resolve(dirname(file), read.string(entry, 'spec', where));
    if (!existsSync(spec)) throw new BuildError(`${file}: ${where}.spec: ${spec} does not exist`);
    const repository = read.optionalString(entry, 'repository', where) ?? 'scality';
    if (!REPOSITORY.test(repository))
      throw new BuildError(`${file}: ${where}.repository "${repository}" must be lowercase letters, digits, _ and -`);
    if (repoNames.has(repository))
      throw new BuildError(
        `${file}: ${where}.repository "${repository}" is a source repository; built packages go to their own (e.g. scality)`,
      );
    const sources = read.list('sources', entry, `${where}.`).map((source, position): SpecSource => {
      const at = `${where}.sources[${position}]`;
      const url = read.optionalString(source, 'url', at);
      const local = read.optionalString(source, 'file', at);
      if ((url === undefined) === (local === undefined))
        throw new BuildError(`${file}: ${at} needs exactly one of "url" (with "sha256") or "file"`);
      if (url !== undefined) {
        if (source.sha256 === undefined)
          throw new BuildError(`${file}: ${at}.sha256 is missing: downloaded sources are pinned by checksum`);
        const sha256 = digestHex(parseDigest(hexDigest(String(source.sha256)), `${file}: ${at}.sha256`));
        return { name: read.optionalString(source, 'name', at) ?? basename(new URL(url).pathname), url, sha256 };
      }
      const path = resolve(dirname(file), local!);
      if (!existsSync(path)) throw new BuildError(`${file}: ${at}.file: ${path} does not exist`);
      return { name: read.optionalString(source, 'name', at) ?? basename(path), file: path };
    });
    return {
      name,
      version: read.string(entry, 'version', where),
      release: read.string(entry, 'release', where),
      spec,
      sources,
      repository,
    };
  });
  return { file, repositories, requests, exclude: exclude as string[], build };
}
