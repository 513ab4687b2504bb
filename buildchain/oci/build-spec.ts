// Image definitions (images/<name>/image.yaml): what the daemonless builder (builder.ts) builds,
// read and checked here, each error naming the file and the field.
import { dirname, join, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { PACKAGE_NAME, readRepositorySource } from '../rpm/declarations.ts';
import { isRecord, readYamlFile } from '../yaml-file.ts';
import { validAccountName, type AccountRequest } from './accounts.ts';
import type { LayerPackage, LayerRepository, LayerSource } from './layer.ts';
import type { Platform } from './media-types.ts';
import { DEFAULT_PLATFORM, parsePlatform } from './pull.ts';
import { parseReference, type ImageReference } from './reference.ts';

/** The image config fields a build may set (the OCI/Docker names). */
const CONFIG_FIELDS = [
  'Entrypoint',
  'Cmd',
  'Env',
  'ExposedPorts',
  'User',
  'WorkingDir',
  'Labels',
  'Volumes',
  'StopSignal',
] as const;
type ConfigField = (typeof CONFIG_FIELDS)[number];

export interface BuildSpec {
  file: string;
  name: string;
  version: string;
  base?: ImageReference & { digest: string };
  platform: Platform;
  layers: LayerSource[];
  config: Partial<Record<ConfigField, unknown>>;
}

/** Reads an image build definition (YAML); every error names the file and the field. */
export function loadBuildSpec(file: string): BuildSpec {
  const doc = readYamlFile(file);
  if (!isRecord(doc)) throw new BuildError(`${file}: expected a mapping with name, version, layers, config`);
  const dir = dirname(resolve(file));
  const text = (key: string): string => {
    const value = doc[key];
    if (typeof value !== 'string' || !value) throw new BuildError(`${file}: "${key}" must be a non-empty string`);
    return value;
  };
  let base: BuildSpec['base'];
  if (doc.base !== undefined && doc.base !== 'scratch') {
    const ref = parseReference(String(doc.base), `${file}: base`);
    if (!ref.digest)
      throw new BuildError(`${file}: base "${String(doc.base)}" must be pinned by digest (...@sha256:...)`);
    base = { ...ref, digest: ref.digest };
  }
  const layers = Array.isArray(doc.layers) ? doc.layers : doc.layers === undefined ? [] : null;
  if (!layers) throw new BuildError(`${file}: "layers" must be a list`);
  const parsedLayers = layers.map((layer: unknown, index): LayerSource => {
    const where = `${file}: layers[${index}]`;
    if (!isRecord(layer))
      throw new BuildError(
        `${where}: expected a mapping with "directory" and "to", "files", "rpms", "packages" or "users"`,
      );
    const source: LayerSource = {};
    if (layer.directory !== undefined) source.directory = join(dir, String(layer.directory));
    if (layer.to !== undefined) source.to = String(layer.to);
    if (layer.files !== undefined) {
      if (!Array.isArray(layer.files)) throw new BuildError(`${where}.files: must be a list`);
      source.files = layer.files.map((entry: unknown, i) => {
        if (!isRecord(entry) || typeof entry.from !== 'string' || typeof entry.to !== 'string') {
          throw new BuildError(
            `${where}.files[${i}]: needs "from" (a path beside ${file}) and "to" (a path in the image)`,
          );
        }
        const mode = entry.mode === undefined ? undefined : parseMode(entry.mode, `${where}.files[${i}].mode`);
        return { from: join(dir, entry.from), to: entry.to, ...(mode !== undefined ? { mode } : {}) };
      });
    }
    if (layer.rpms !== undefined) {
      const list = layer.rpms;
      if (!Array.isArray(list) || list.length === 0 || list.some((item) => typeof item !== 'string' || !item))
        throw new BuildError(`${where}.rpms: must be a non-empty list of RPM files beside the definition`);
      source.rpms = list.map((rpm: string) => join(dir, rpm));
    }
    if (layer.packages !== undefined) source.packages = parsePackages(layer.packages, `${where}.packages`);
    if (layer.repositories !== undefined) {
      if (!source.packages) throw new BuildError(`${where}.repositories: only a "packages" layer takes repositories`);
      source.repositories = parseRepositories(file, layer.repositories, `layers[${index}].repositories`);
    }
    if (layer.users !== undefined) source.users = parseUsers(layer.users, `${where}.users`);
    if (!source.directory && !source.files && !source.rpms && !source.packages && !source.users)
      throw new BuildError(`${where}: needs "directory", "files", "rpms", "packages" or "users"`);
    return source;
  });
  const config = doc.config ?? {};
  if (!isRecord(config)) throw new BuildError(`${file}: "config" must be a mapping`);
  for (const key of Object.keys(config)) {
    if (!(CONFIG_FIELDS as readonly string[]).includes(key))
      throw new BuildError(`${file}: config.${key} is not one of ${CONFIG_FIELDS.join(', ')}`);
  }
  return {
    file,
    name: text('name'),
    version: text('version'),
    ...(base ? { base } : {}),
    platform: doc.platform === undefined ? DEFAULT_PLATFORM : parsePlatform(String(doc.platform), `${file}: platform`),
    layers: parsedLayers,
    config: config as BuildSpec['config'],
  };
}

/** `packages`: names, or mappings with `name` and a `version` (or `version-release`) to pin. */
function parsePackages(value: unknown, where: string): LayerPackage[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new BuildError(`${where}: must be a non-empty list of package names or {name, version}`);
  return value.map((entry: unknown, i): LayerPackage => {
    const fields = typeof entry === 'string' ? { name: entry } : isRecord(entry) ? entry : {};
    if (typeof fields.name !== 'string' || !PACKAGE_NAME.test(fields.name))
      throw new BuildError(`${where}[${i}]: needs a package name`);
    if (fields.version === undefined) return { name: fields.name };
    if (typeof fields.version !== 'string' || !fields.version)
      throw new BuildError(`${where}[${i}].version: must be a quoted version or version-release`);
    return { name: fields.name, version: fields.version };
  });
}

/** `repositories`: names declared in packages-rpm/packages.yaml, or mappings with `name`, `baseurl` and an optional `priority`. */
function parseRepositories(file: string, value: unknown, where: string): LayerRepository[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new BuildError(
      `${file}: ${where}: must be a non-empty list of repository names or {name, baseurl, priority}`,
    );
  return value.map((entry: unknown, i): LayerRepository => {
    if (typeof entry === 'string' && entry) return entry;
    if (!isRecord(entry))
      throw new BuildError(`${file}: ${where}[${i}]: must be a repository name or {name, baseurl, priority}`);
    return readRepositorySource(file, entry, `${where}[${i}]`);
  });
}

/** `users`: names, or mappings with `name` and optional `uid` and `gid`. */
function parseUsers(value: unknown, where: string): AccountRequest[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new BuildError(`${where}: must be a non-empty list of account names or {name, uid, gid}`);
  return value.map((entry: unknown, i): AccountRequest => {
    const at = `${where}[${i}]`;
    const fields = typeof entry === 'string' ? { name: entry } : isRecord(entry) ? entry : undefined;
    if (!fields || typeof fields.name !== 'string' || !validAccountName(fields.name))
      throw new BuildError(`${at}: needs a valid account name (lowercase letters, digits, _ and -)`);
    const id = (key: 'uid' | 'gid'): number | undefined => {
      const raw = fields[key];
      if (raw === undefined) return undefined;
      if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1 || raw > 65534)
        throw new BuildError(`${at}.${key}: must be an integer from 1 to 65534`);
      return raw;
    };
    const uid = id('uid');
    const gid = id('gid');
    return { name: fields.name, ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) };
  });
}

function parseMode(value: unknown, where: string): number {
  // YAML 1.2 reads an unquoted 0755 as the decimal 755: its digits are the octal mode meant.
  const text = String(value);
  if (!/^0?[0-7]{3,4}$/.test(text)) throw new BuildError(`${where}: "${String(value)}" is not an octal mode like 0755`);
  return Number.parseInt(text, 8);
}
