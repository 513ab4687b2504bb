// Pulling one image by digest into the blob store: the pinned manifest (an index is resolved
// to the platform's manifest, both kept), then its config and layers, verified as they stream.
import { readFile } from 'node:fs/promises';
import { BuildError } from '../errors.ts';
import { DigestMismatchError, parseDigest, sha256Digest } from '../store/sha256.ts';
import {
  IMAGE_MANIFESTS,
  MANIFEST_ACCEPT,
  MANIFEST_INDEXES,
  manifestMediaType,
  type Descriptor,
  type ImageManifest,
  type ManifestIndex,
  type Platform,
} from './media-types.ts';
import type { RegistryClient } from './registry.ts';
import { ingestRetrying, type BlobStore } from '../store/blob-store.ts';

export interface StoredManifest {
  digest: string;
  mediaType: string;
}

/** What a pull leaves in the store: enough to lay the image out without the network. */
export interface PulledImage {
  /** The pinned manifest (an index when the digest names one). */
  top: StoredManifest;
  /** The platform's manifest when `top` is an index. */
  child?: StoredManifest;
  /** The config blob, then the layers. */
  blobs: Descriptor[];
}

export interface PullOptions {
  client: RegistryClient;
  store: BlobStore;
  repository: string;
  digest: string;
  /** Names the image in errors (`prometheus v2.12.0`). */
  describe: string;
  platform?: Platform;
  /** Runs each blob download: the caller's limit on parallel downloads across images. */
  schedule?: <T>(work: () => Promise<T>) => Promise<T>;
  onBytes?: (bytes: number) => void;
  signal: AbortSignal;
  /** Attempts at one blob whose body broke off mid-way (each resumes where the last stopped). */
  blobAttempts?: number;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export function parsePlatform(text: string, where: string): Platform {
  const [os, architecture, variant, ...rest] = text.split('/');
  if (!os || !architecture || rest.length > 0)
    throw new BuildError(`${where}: "${text}" is not a platform "os/architecture[/variant]"`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export async function pullImage(options: PullOptions): Promise<PulledImage> {
  const top = await fetchManifest(options, options.digest);
  let manifest: ImageManifest;
  let manifestUrl = top.url;
  let child: StoredManifest | undefined;
  if (MANIFEST_INDEXES.includes(top.mediaType)) {
    const index = top.json as ManifestIndex;
    for (const [i, entry] of index.manifests.entries()) checkDescriptor(entry, `${top.url}: manifests[${i}]`);
    const chosen = selectPlatform(
      index,
      options.platform ?? DEFAULT_PLATFORM,
      `${options.describe} (${options.digest})`,
    );
    const fetched = await fetchManifest(options, chosen.digest);
    if (!IMAGE_MANIFESTS.includes(fetched.mediaType)) {
      throw new BuildError(
        `${options.describe}: manifest ${chosen.digest} of the index is a ${fetched.mediaType}, not an image manifest`,
      );
    }
    manifest = fetched.json as ImageManifest;
    manifestUrl = fetched.url;
    child = { digest: chosen.digest, mediaType: fetched.mediaType };
  } else {
    manifest = top.json as ImageManifest;
  }
  const blobs = [manifest.config, ...manifest.layers];
  // Every descriptor is checked before any download: a digest that is not sha256:<64 hex> never
  // reaches a URL or a path, and a blob without a declared size could be served without end.
  for (const [index, blob] of blobs.entries())
    checkDescriptor(blob, `${manifestUrl}: ${index === 0 ? 'config' : `layers[${index - 1}]`}`);
  const schedule = options.schedule ?? ((work) => work());
  await Promise.all(blobs.map((blob) => schedule(() => fetchBlob(options, blob))));
  return { top: { digest: options.digest, mediaType: top.mediaType }, ...(child ? { child } : {}), blobs };
}

/** Refuses a descriptor whose digest is not `sha256:<64 hex>` or whose size is not a non-negative integer. */
function checkDescriptor(descriptor: unknown, where: string): void {
  if (typeof descriptor !== 'object' || descriptor === null) throw new BuildError(`${where}: not a descriptor object`);
  const { digest, size } = descriptor as { digest?: unknown; size?: unknown };
  parseDigest(digest, `${where}.digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw new BuildError(
      `${where}.size: ${size === undefined ? 'missing' : JSON.stringify(size)}; a descriptor needs its size in bytes, a non-negative integer`,
    );
}

/**
 * The image as the store already holds it (manifests and every blob), or undefined when some
 * part is missing: what tells a build it can lay the image out without the network.
 */
export async function storedImage(
  store: BlobStore,
  digest: string,
  platform: Platform = DEFAULT_PLATFORM,
): Promise<PulledImage | undefined> {
  try {
    const read = async (d: string) => {
      // Asked first: a blob another host shared is taken from the cache here.
      if (!(await store.has(d))) throw new Error(`${d} is not stored`);
      const json = JSON.parse(await readFile(store.path(d), 'utf8')) as ImageManifest &
        ManifestIndex & { mediaType?: string };
      return { json, mediaType: manifestMediaType(json) };
    };
    const top = await read(digest);
    let image = top;
    let child: StoredManifest | undefined;
    if (MANIFEST_INDEXES.includes(top.mediaType)) {
      const chosen = selectPlatform(top.json, platform, digest);
      image = await read(chosen.digest);
      child = { digest: chosen.digest, mediaType: image.mediaType };
    }
    const blobs = [image.json.config, ...image.json.layers];
    for (const blob of blobs) if (!(await store.has(blob.digest, blob.size))) return undefined;
    return { top: { digest, mediaType: top.mediaType }, ...(child ? { child } : {}), blobs };
  } catch {
    return undefined;
  }
}

async function fetchManifest(
  options: PullOptions,
  digest: string,
): Promise<{ json: unknown; mediaType: string; url: string }> {
  const { store } = options;
  let url = `${options.client.endpoint.origin}/v2/${options.repository}/manifests/${digest}`;
  let bytes: Buffer;
  let served = '';
  if (await store.has(digest)) {
    bytes = await readFile(store.path(digest));
  } else {
    const answer = await options.client.manifest(options.repository, digest, MANIFEST_ACCEPT, options.signal);
    const actual = sha256Digest(answer.bytes);
    if (actual !== digest) {
      throw new DigestMismatchError(
        `${answer.url}: manifest of ${options.describe} has digest ${actual}, not the pinned ${digest}`,
      );
    }
    bytes = answer.bytes;
    url = answer.url;
    served = answer.mediaType;
    await store.put(digest, bytes, `${options.describe} manifest`);
  }
  let json: { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    json = JSON.parse(bytes.toString('utf8')) as typeof json;
  } catch {
    throw new BuildError(`${options.describe}: manifest ${digest} is not JSON`);
  }
  if (json.schemaVersion !== 2)
    throw new BuildError(
      `${options.describe}: manifest ${digest} has schemaVersion ${String(json.schemaVersion)}; only schema 2 (Docker v2s2, OCI) is supported`,
    );
  const mediaType = manifestMediaType(json, served);
  if (
    MANIFEST_INDEXES.includes(mediaType) ? !Array.isArray(json.manifests) : !(json.config && Array.isArray(json.layers))
  ) {
    throw new BuildError(
      `${options.describe}: manifest ${digest} (${mediaType}) lacks its ${MANIFEST_INDEXES.includes(mediaType) ? '"manifests"' : '"config" or "layers"'}`,
    );
  }
  return { json, mediaType, url };
}

export function selectPlatform(index: ManifestIndex, platform: Platform, describe: string): Descriptor {
  const matches = index.manifests.filter(
    (entry) =>
      entry.platform?.os === platform.os &&
      entry.platform.architecture === platform.architecture &&
      (platform.variant === undefined || entry.platform.variant === platform.variant),
  );
  const chosen = matches[0];
  if (!chosen) {
    const offered = index.manifests
      .map((entry) =>
        entry.platform
          ? `${entry.platform.os}/${entry.platform.architecture}${entry.platform.variant ? `/${entry.platform.variant}` : ''}`
          : '?',
      )
      .join(', ');
    throw new BuildError(
      `${describe}: no manifest for ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''} in the index (it has: ${offered || 'none'})`,
    );
  }
  return chosen;
}

async function fetchBlob(options: PullOptions, blob: Descriptor): Promise<void> {
  let url = `${options.client.endpoint.origin}/v2/${options.repository}/blobs/${blob.digest}`;
  await ingestRetrying(
    options.store,
    blob.digest,
    async (offset) => {
      const answer = await options.client.blob(options.repository, blob.digest, offset, options.signal);
      url = answer.url;
      return answer;
    },
    {
      size: blob.size,
      signal: options.signal,
      describe: () => `${options.describe}: blob ${blob.digest} from ${url}`,
      ...(options.blobAttempts !== undefined ? { attempts: options.blobAttempts } : {}),
      ...(options.onBytes ? { onBytes: options.onBytes } : {}),
    },
  );
}
