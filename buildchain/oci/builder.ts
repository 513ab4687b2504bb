// The daemonless image builder: a base image pulled by digest (or none), deterministic layers
// from host files or from RPM payloads, and a config. No container runs: a package layer is the
// files of the packages the caller resolves (beyond what the base's rpm database lists), unpacked
// by bsdtar, without their scriptlets and without an entry in the image's rpm database, so it
// suits images that run what they install; images that need a package manager at build time stay
// Dockerfile builds (DOCKER_BIN). A users layer adds system accounts to the base's /etc files.
// Same inputs, same digest.
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { buildTimestamp } from '../timestamp.ts';
import { BuildError } from '../errors.ts';
import { isRecord, readYamlFile } from '../yaml-file.ts';
import { tempPathFor } from '../fs/atomic.ts';
import { isDiskFailure, writeFailure } from '../fs/space.ts';
import { accountsOf, addAccounts, validAccountName, type AccountRequest, type AccountsBelow } from './accounts.ts';
import { installedPackages } from './base-rpmdb.ts';
import { requireExecutable, runTool } from '../tools.ts';
import { sha256Digest } from '../store/digest.ts';
import { planLayer, writeLayer, type LayerPackage, type LayerRepository, type LayerSource } from './layer.ts';
import { PACKAGE_NAME, readRepositorySource } from '../rpm/declarations.ts';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from './media-types.ts';
import { DEFAULT_PLATFORM, parsePlatform, type PulledImage } from './pull.ts';
import type { ImagePuller } from './puller.ts';
import { parseReference, type ImageReference } from './reference.ts';
import type { BlobStore } from '../store/blob-store.ts';

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

/** A `packages` layer, as the build's resolver sees it. */
export interface PackageLayer {
  index: number;
  /** `<definition>: layers[<index>]`, for errors. */
  where: string;
  packages: LayerPackage[];
  repositories?: LayerRepository[];
}

export interface BuildOptions {
  store: BlobStore;
  /** Needed when the spec has a base image. */
  puller?: ImagePuller;
  /** Layer mtimes and the config's `created` (SOURCE_DATE_EPOCH; 0 when unset). */
  sourceDateEpoch?: number;
  /** Merged into config.Labels (version, source revision). */
  labels?: Record<string, string>;
  /**
   * The RPM files a `packages` layer installs: its packages and what they require beyond the
   * `installed` packages of the image so far (its base's rpm database), from the layer's
   * repositories or the build's own.
   */
  packageFiles?: (layer: PackageLayer, installed: ReadonlySet<string>) => Promise<string[]>;
  signal: AbortSignal;
}

/** What a layer may read of the image below it, fetched once per build and only when needed. */
interface ImageBelow {
  installed: () => Promise<ReadonlySet<string>>;
  /** The image's account files and their settings, in a directory `users` layers keep up to date. */
  accounts: () => Promise<AccountsBelow>;
}

/**
 * A layer's sources as host paths: its directory and files as they are, the payloads of its
 * RPMs unpacked into `staging` (created here) and its account files written there, placed at the
 * image root.
 */
async function hostSources(
  source: LayerSource,
  index: number,
  staging: string,
  where: string,
  options: BuildOptions,
  below: ImageBelow,
): Promise<LayerSource[]> {
  const { rpms = [], packages, repositories, users, ...host } = source;
  const sources: LayerSource[] = [host];
  if (users) {
    const { root, modes } = await below.accounts();
    const files = addAccounts(root, modes, users, `${where}.users`, options.sourceDateEpoch ?? 0);
    await mkdir(join(staging, 'accounts'), { recursive: true });
    for (const file of files) {
      // The next users layer of this build starts from these files.
      await writeFile(join(root, file.path), file.text);
      await writeFile(join(staging, 'accounts', basename(file.path)), file.text, { mode: 0o600 });
    }
    // Written readable for us; the layer keeps the base's modes (shadow is often 0000).
    sources.push({
      files: files.map((file) => ({
        from: join(staging, 'accounts', basename(file.path)),
        to: `/${file.path}`,
        mode: file.mode,
      })),
    });
  }
  if (rpms.length === 0 && !packages) return sources;
  if (packages && !options.packageFiles)
    throw new BuildError(
      `${where}: a "packages" layer needs the build's repositories (build it with ./build.ts), or list RPM files with "rpms"`,
    );
  const layer: PackageLayer | undefined = packages && {
    index,
    where,
    packages,
    ...(repositories ? { repositories } : {}),
  };
  const all = [...rpms, ...(layer ? await options.packageFiles!(layer, await below.installed()) : [])];
  const bsdtar = requireExecutable('bsdtar');
  const payloads = join(staging, 'payloads');
  await mkdir(payloads, { recursive: true });
  for (const rpm of all) {
    await runTool(bsdtar, ['-x', '-p', '-f', rpm, '-C', payloads], {
      signal: options.signal,
      what: `${where}: unpacking ${rpm}`,
    });
  }
  return [...sources, { directory: payloads, to: '/' }];
}

/** Builds the image into the store; the result is laid out like a pulled one. */
export async function buildImage(spec: BuildSpec, options: BuildOptions): Promise<PulledImage> {
  const { store } = options;
  const epoch = options.sourceDateEpoch ?? 0;
  const created = new Date(epoch * 1000);
  const createdText = buildTimestamp(epoch);
  let baseManifest: ImageManifest | undefined;
  let baseConfig: Record<string, unknown> = {};
  let docker = false;
  if (spec.base) {
    if (!options.puller) throw new BuildError(`${spec.file}: a base image needs a registry client`);
    const pulled = await options.puller.pull(spec.base, {
      describe: `${spec.name} base ${spec.base.repository}`,
      platform: spec.platform,
      signal: options.signal,
    });
    const manifestDigest = pulled.child?.digest ?? pulled.top.digest;
    baseManifest = JSON.parse(readFileSync(store.path(manifestDigest), 'utf8')) as ImageManifest;
    docker = (pulled.child ?? pulled.top).mediaType === DOCKER_MANIFEST;
    baseConfig = JSON.parse(readFileSync(store.path(baseManifest.config.digest), 'utf8')) as Record<string, unknown>;
  }

  const layers: Descriptor[] = [...(baseManifest?.layers ?? [])];
  const diffIds = [...((baseConfig.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? [])];
  const history = [...((baseConfig.history as unknown[] | undefined) ?? [])];
  // What the base has installed, read once and only for a packages layer. Earlier package layers
  // of the same build are not in it: their packages are not listed in any rpm database. Its
  // account files likewise, only for a users layer; those do see earlier users layers.
  let installed: Promise<Set<string>> | undefined;
  let accounts: Promise<AccountsBelow> | undefined;
  const accountsDir = tempPathFor(join(store.root, 'ingest', 'accounts'));
  const below: ImageBelow = {
    installed: () => (installed ??= installedPackages(store, baseManifest?.layers ?? [], options.signal)),
    accounts: () => (accounts ??= accountsOf(store, baseManifest?.layers ?? [], accountsDir, options.signal)),
  };
  try {
    for (const [index, source] of spec.layers.entries()) {
      const where = `${spec.file}: layers[${index}]`;
      const tmp = tempPathFor(join(store.root, 'ingest', 'layer'));
      const staging = `${tmp}.rootfs`;
      await mkdir(dirname(tmp), { recursive: true });
      try {
        const entries = planLayer(await hostSources(source, index, staging, where, options, below), where);
        const written = await writeLayer(entries, tmp, created).catch((error: unknown) => {
          throw isDiskFailure(error) ? writeFailure(`${store.root} (${where})`, error) : error;
        });
        await store.adopt(tmp, written.digest);
        layers.push({
          mediaType: docker ? DOCKER_LAYER_GZIP : OCI_LAYER_GZIP,
          digest: written.digest,
          size: written.size,
        });
        diffIds.push(written.diffId);
        history.push({ created: createdText, created_by: `metalk8s-buildchain: ${spec.name} layers[${index}]` });
      } finally {
        await rm(tmp, { force: true });
        await rm(staging, { recursive: true, force: true });
      }
    }
  } finally {
    await rm(accountsDir, { recursive: true, force: true });
  }

  const inherited = (baseConfig.config as Record<string, unknown> | undefined) ?? {};
  const labels = {
    ...(inherited.Labels as Record<string, string> | undefined),
    ...(spec.config.Labels as Record<string, string> | undefined),
    ...options.labels,
  };
  const imageConfig = {
    ...baseConfig,
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
    created: createdText,
    config: { ...inherited, ...spec.config, ...(Object.keys(labels).length ? { Labels: labels } : {}) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
  const configBytes = Buffer.from(JSON.stringify(imageConfig));
  const configDescriptor = {
    mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG,
    digest: sha256Digest(configBytes),
    size: configBytes.length,
  };
  await store.put(configDescriptor.digest, configBytes, `${spec.name} config`);
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
      config: configDescriptor,
      layers,
    }),
  );
  const digest = sha256Digest(manifestBytes);
  await store.put(digest, manifestBytes, `${spec.name} manifest`);
  return { top: { digest, mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST }, blobs: [configDescriptor, ...layers] };
}
