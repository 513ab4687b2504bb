// The daemonless image builder: a base image pulled by digest (or none), deterministic layers
// from host files or from RPM payloads, and a config. No container runs: a package layer is the
// files of the packages the caller resolves (beyond what the base's rpm database lists), unpacked
// by bsdtar, without their scriptlets and without an entry in the image's rpm database, so it
// suits images that run what they install; images that need a package manager at build time stay
// Dockerfile builds (DOCKER_BIN). A users layer adds system accounts to the base's /etc files.
// Same inputs, same digest.
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { buildTimestamp } from '../timestamp.ts';
import { BuildError } from '../errors.ts';
import { tempPathFor } from '../fs/atomic.ts';
import { isDiskFailure, writeFailure } from '../fs/space.ts';
import { accountsOf, addAccounts, type AccountsBelow } from './accounts.ts';
import { installedPackages } from './base-rpmdb.ts';
import { requireExecutable, runTool } from '../tools.ts';
import { sha256Digest } from '../store/sha256.ts';
import { planLayer, writeLayer, type LayerPackage, type LayerRepository, type LayerSource } from './layer.ts';
import type { BuildSpec } from './build-spec.ts';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  type Descriptor,
  type ImageManifest,
} from './media-types.ts';
import type { PulledImage } from './pull.ts';
import type { ImagePuller } from './puller.ts';
import type { BlobStore } from '../store/blob-store.ts';

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
