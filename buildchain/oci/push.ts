// The write side of the OCI distribution API, over RegistryClient.request: blobs (HEAD to skip
// what is there, a cross-repository mount, a monolithic POST+PUT or chunked PATCHes resumed where
// the registry says it stopped, always streamed from the source), manifests by tag or digest, and
// referrers (the OCI 1.1 API, or the `sha256-<hex>` tag schema where a registry lacks it).
// Nothing here knows what is pushed: releases and the build cache both use it.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import { NetworkError, RETRYABLE_STATUS, sleep } from '../http.ts';
import { digestHex, parseDigest, sha256Digest } from '../store/sha256.ts';
import { OCI_INDEX, OCI_MANIFEST, type Descriptor, type ManifestIndex } from './media-types.ts';
import { pullScope, pushScope, type RegistryClient, type Response } from './registry.ts';

/** One repository of one registry, and the signal that ends every request made to it. */
export interface Target {
  client: RegistryClient;
  repository: string;
  signal: AbortSignal;
}

/** Content to upload: its digest and size, and a reader of the bytes [start, end). */
export interface BlobSource {
  digest: string;
  size: number;
  open(start: number, end: number): Readable | Buffer;
}

export function fileBlob(path: string, digest: string, size: number): BlobSource {
  return { digest, size, open: (start, end) => createReadStream(path, { start, end: end - 1 }) };
}

export function bytesBlob(bytes: Buffer): BlobSource {
  return { digest: sha256Digest(bytes), size: bytes.length, open: (start, end) => bytes.subarray(start, end) };
}

export interface BlobPushOptions {
  /** A repository of the same registry that may hold the blob: mounted from there, not uploaded. */
  mountFrom?: string;
  /** Blobs larger than this go up in PATCH chunks of this size (default 64 MiB). */
  chunkSize?: number;
  /** Uploads started again (or chunks resumed) after a broken connection or a busy registry. */
  attempts?: number;
  onBytes?: (bytes: number) => void;
}

export type BlobPushResult = 'present' | 'mounted' | 'uploaded';

const DEFAULT_CHUNK = 64 << 20;
const MAX_INDEX_BYTES = 4 << 20;
/** Pages of a referrers list followed before the list is called too long. */
const MAX_REFERRER_PAGES = 64;

export async function blobExists(target: Target, digest: string): Promise<boolean> {
  const { client, repository, signal } = target;
  const url = blobUrl(target, digest);
  const response = await client.request('HEAD', url, { signal }, [pushScope(repository)]);
  await response.body.dump();
  if (response.status === 200) return true;
  if (response.status === 404) return false;
  throw await client.failure(response, `blob ${repository}@${digest}`);
}

/** Makes `blob` present in the repository: already there, mounted, or uploaded. */
export async function pushBlob(
  target: Target,
  blob: BlobSource,
  options: BlobPushOptions = {},
): Promise<BlobPushResult> {
  parseDigest(blob.digest, `blob of ${target.repository}`);
  if (await blobExists(target, blob.digest)) return 'present';
  const attempts = options.attempts ?? 4;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const started = await startUpload(target, blob.digest, options.mountFrom);
      if (started === 'mounted') return 'mounted';
      const chunk = options.chunkSize ?? DEFAULT_CHUNK;
      if (blob.size <= chunk) await putWhole(target, started, blob, options.onBytes);
      else await putChunked(target, started, blob, chunk, attempts, options.onBytes);
      return 'uploaded';
    } catch (error) {
      if (!(error instanceof Retryable) || attempt >= attempts || target.signal.aborted)
        throw error instanceof Retryable ? error.cause : error;
      await sleep(250 * 2 ** (attempt - 1), target.signal);
    }
  }
}

/** A failure worth a new upload session: a broken connection or a busy registry. */
class Retryable extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/** POST: an upload session's URL, or 'mounted' when the registry linked the blob from `from`. */
async function startUpload(target: Target, digest: string, from: string | undefined): Promise<string | 'mounted'> {
  const { client, repository, signal } = target;
  const url = new URL(`${client.endpoint.origin}/v2/${repository}/blobs/uploads/`);
  if (from && from !== repository) {
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
  }
  const scopes = from && from !== repository ? [pushScope(repository), pullScope(from)] : [pushScope(repository)];
  const response = await client.request('POST', url.href, { signal, headers: { 'content-length': '0' } }, scopes);
  // Already retried by the client: a failure here is final.
  if (response.status !== 201 && response.status !== 202) throw await client.failure(response, `upload of ${digest}`);
  await response.body.dump();
  if (response.status === 201 && url.searchParams.has('mount')) return 'mounted';
  return locationOf(response, url.href);
}

async function putWhole(
  target: Target,
  location: string,
  blob: BlobSource,
  onBytes: ((bytes: number) => void) | undefined,
): Promise<void> {
  const url = withDigest(location, blob.digest);
  const response = await attemptOnce(
    target,
    'PUT',
    url,
    {
      'content-type': 'application/octet-stream',
      'content-length': String(blob.size),
    },
    () => blob.open(0, blob.size),
  );
  if (response.status !== 201) throw await statusError(target, response, `upload of ${blob.digest}`);
  await response.body.dump();
  onBytes?.(blob.size);
}

/**
 * PATCH chunk after chunk, each from disk; when one fails, the session's status (GET, `Range:
 * 0-<last>`) says how much the registry kept, and the next chunk starts there.
 */
async function putChunked(
  target: Target,
  first: string,
  blob: BlobSource,
  chunk: number,
  attempts: number,
  onBytes: ((bytes: number) => void) | undefined,
): Promise<void> {
  let location = first;
  let offset = 0;
  let failures = 0;
  while (offset < blob.size) {
    const end = Math.min(offset + chunk, blob.size);
    try {
      const response = await attemptOnce(
        target,
        'PATCH',
        location,
        {
          'content-type': 'application/octet-stream',
          'content-length': String(end - offset),
          'content-range': `${offset}-${end - 1}`,
        },
        () => blob.open(offset, end),
      );
      if (response.status !== 202) throw await statusError(target, response, `upload of ${blob.digest}`);
      await response.body.dump();
      location = locationOf(response, location);
      const kept = rangeEnd(response) ?? end;
      onBytes?.(kept - offset);
      offset = kept;
    } catch (error) {
      failures += 1;
      if (!(error instanceof Retryable)) throw error;
      // Given up here: the caller must not start the whole upload again on top of these attempts.
      if (failures >= attempts || target.signal.aborted) throw error.cause;
      await sleep(250 * 2 ** (failures - 1), target.signal);
      const status = await uploadStatus(target, location);
      location = status.location;
      offset = status.offset;
    }
  }
  const response = await attemptOnce(target, 'PUT', withDigest(location, blob.digest), { 'content-length': '0' });
  if (response.status !== 201) throw await statusError(target, response, `upload of ${blob.digest}`);
  await response.body.dump();
}

/** Where an interrupted upload stands: the bytes the registry holds, and the session's URL. */
async function uploadStatus(target: Target, location: string): Promise<{ location: string; offset: number }> {
  const response = await target.client.request('GET', location, { signal: target.signal }, [
    pushScope(target.repository),
  ]);
  if (response.status !== 204) throw await statusError(target, response, 'upload status');
  await response.body.dump();
  // `0-0` is what distribution says for an empty session as for one byte: taken as empty, a wrong
  // guess ends in the registry refusing the next chunk's Content-Range, never in corrupt data.
  const kept = rangeEnd(response) ?? 0;
  return { location: locationOf(response, location), offset: kept === 1 ? 0 : kept };
}

/** One attempt (no retry inside): the caller resumes or starts a new session. */
async function attemptOnce(
  target: Target,
  method: 'PUT' | 'PATCH',
  url: string,
  headers: Record<string, string>,
  body?: () => Readable | Buffer,
): Promise<Response> {
  try {
    return await target.client.request(
      method,
      url,
      { signal: target.signal, headers, retries: 0, ...(body ? { body } : {}) },
      [pushScope(target.repository)],
    );
  } catch (error) {
    throw error instanceof NetworkError ? new Retryable(error) : error;
  }
}

async function statusError(target: Target, response: Response, what: string): Promise<Error> {
  const error = await target.client.failure(response, what);
  return RETRYABLE_STATUS.has(response.status) ? new Retryable(error) : error;
}

/** The `Range: 0-<last>` header of an upload answer, as the next offset. */
function rangeEnd(response: Response): number | undefined {
  const match = /^(?:bytes=)?0-(\d+)$/.exec(String(response.headers.range ?? '').trim());
  return match ? Number(match[1]) + 1 : undefined;
}

function locationOf(response: Response, base: string): string {
  const location = response.headers.location;
  if (typeof location !== 'string' || !location)
    throw new BuildError(`${response.url}: upload answer has no Location header`);
  // Another origin is allowed (a registry behind a proxy names itself); credentials do not go there.
  return new URL(location, base).href;
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.href;
}

function blobUrl(target: Target, digest: string): string {
  digestHex(digest, `blob of ${target.repository}`);
  return `${target.client.endpoint.origin}/v2/${target.repository}/blobs/${digest}`;
}

export interface PushedManifest {
  digest: string;
  /** The registry answered `OCI-Subject`: it indexed the manifest's subject for the referrers API. */
  subjectIndexed: boolean;
}

/** PUT a manifest by tag or digest; the registry's digest must be the bytes' own. */
export async function pushManifest(
  target: Target,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<PushedManifest> {
  const { client, repository, signal } = target;
  const digest = sha256Digest(bytes);
  const url = `${client.endpoint.origin}/v2/${repository}/manifests/${reference}`;
  const response = await client.request(
    'PUT',
    url,
    { signal, headers: { 'content-type': mediaType, 'content-length': String(bytes.length) }, body: () => bytes },
    [pushScope(repository)],
  );
  if (response.status !== 201) throw await client.failure(response, `manifest ${repository}:${reference}`);
  await response.body.dump();
  const served = response.headers['docker-content-digest'];
  if (typeof served === 'string' && served && served !== digest)
    throw new BuildError(`${url}: the registry stored the manifest as ${served}, not its digest ${digest}`);
  return { digest, subjectIndexed: typeof response.headers['oci-subject'] === 'string' };
}

/** The tag under which the referrers of `digest` are listed where there is no referrers API. */
export function referrersTag(digest: string): string {
  return `sha256-${digestHex(digest, 'subject')}`;
}

export interface Referrers {
  manifests: Descriptor[];
  /** 'api': GET /v2/<name>/referrers/<digest>; 'tag': the fallback tag's index. */
  source: 'api' | 'tag';
}

/**
 * The manifests whose subject is `digest`, of `artifactType` when given: from the referrers API,
 * or (when it answers 404, as the spec says) from the `sha256-<hex>` tag's index.
 */
export async function listReferrers(target: Target, digest: string, artifactType?: string): Promise<Referrers> {
  const { client, repository, signal } = target;
  digestHex(digest, `referrers of ${repository}`);
  const first = new URL(`${client.endpoint.origin}/v2/${repository}/referrers/${digest}`);
  if (artifactType) first.searchParams.set('artifactType', artifactType);
  const manifests: Descriptor[] = [];
  let url: string | undefined = first.href;
  for (let page = 0; url; page += 1) {
    if (page >= MAX_REFERRER_PAGES) throw new BuildError(`${first.href}: more than ${MAX_REFERRER_PAGES} pages`);
    const response = await client.request('GET', url, { signal, headers: { accept: OCI_INDEX } }, [
      pullScope(repository),
    ]);
    if (response.status === 404 && page === 0) {
      await response.body.dump();
      return { manifests: filter(await tagReferrers(target, digest), artifactType), source: 'tag' };
    }
    if (response.status !== 200) throw await client.failure(response, `referrers of ${repository}@${digest}`);
    manifests.push(...(await readIndex(response, url)).manifests);
    url = nextPage(response, url);
  }
  // A registry may ignore the filter (it says so by omitting OCI-Filters-Applied): apply it here.
  return { manifests: filter(manifests, artifactType), source: 'api' };
}

/**
 * Pushes a manifest that has a `subject` (by digest) and makes it listed as a referrer: a registry
 * with the referrers API says so with `OCI-Subject`; for any other, the descriptor is added to the
 * `sha256-<hex>` tag's index (created when missing), as the distribution spec's fallback asks.
 */
export async function pushReferrer(
  target: Target,
  bytes: Buffer,
): Promise<{ digest: string; listedBy: 'api' | 'tag' }> {
  const manifest = JSON.parse(bytes.toString('utf8')) as {
    mediaType?: string;
    artifactType?: string;
    config?: { mediaType?: string };
    subject?: { digest?: unknown };
    annotations?: Record<string, string>;
  };
  const subject = parseDigest(manifest.subject?.digest, 'referrer manifest: subject.digest');
  const mediaType = manifest.mediaType ?? OCI_MANIFEST;
  const pushed = await pushManifest(target, sha256Digest(bytes), bytes, mediaType);
  if (pushed.subjectIndexed) return { digest: pushed.digest, listedBy: 'api' };
  const existing = await tagReferrers(target, subject);
  if (!existing.some((entry) => entry.digest === pushed.digest)) {
    const artifactType = manifest.artifactType ?? manifest.config?.mediaType;
    const entry: Descriptor = {
      mediaType,
      digest: pushed.digest,
      size: bytes.length,
      ...(artifactType ? { artifactType } : {}),
      ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
    };
    const index: ManifestIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...existing, entry] };
    await pushManifest(target, referrersTag(subject), Buffer.from(JSON.stringify(index)), OCI_INDEX);
  }
  return { digest: pushed.digest, listedBy: 'tag' };
}

/** The fallback tag's index entries; none when the tag does not exist. */
async function tagReferrers(target: Target, subject: string): Promise<Descriptor[]> {
  const { client, repository, signal } = target;
  const response = await client.send(
    'GET',
    repository,
    `manifests/${referrersTag(subject)}`,
    { accept: OCI_INDEX },
    signal,
  );
  if (response.status === 404) {
    await response.body.dump();
    return [];
  }
  if (response.status !== 200) throw await client.failure(response, `referrers tag of ${repository}@${subject}`);
  return (await readIndex(response, response.url)).manifests;
}

async function readIndex(response: Response, url: string): Promise<ManifestIndex> {
  const bytes = await response.body.bytes(
    MAX_INDEX_BYTES,
    () => new BuildError(`${url}: index larger than ${MAX_INDEX_BYTES} bytes`),
  );
  let index: { manifests?: unknown };
  try {
    index = JSON.parse(bytes.toString('utf8')) as typeof index;
  } catch {
    throw new BuildError(`${url}: referrers index is not JSON`);
  }
  if (!Array.isArray(index?.manifests)) throw new BuildError(`${url}: referrers index has no "manifests" list`);
  for (const [i, entry] of (index.manifests as Descriptor[]).entries()) {
    parseDigest(entry?.digest, `${url}: manifests[${i}].digest`);
    if (!Number.isSafeInteger(entry.size) || entry.size < 0)
      throw new BuildError(`${url}: manifests[${i}].size is not a non-negative integer`);
  }
  return index as ManifestIndex;
}

function filter(manifests: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType ? manifests.filter((entry) => entry.artifactType === artifactType) : manifests;
}

/** `Link: </v2/...?n=..&last=..>; rel="next"`, resolved on the registry's origin. */
function nextPage(response: Response, url: string): string | undefined {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(response.headers.link ?? ''));
  if (!match) return undefined;
  const next = new URL(match[1]!, url);
  if (next.origin !== new URL(url).origin) throw new BuildError(`${url}: next page ${next.href} is on another origin`);
  return next.href;
}
