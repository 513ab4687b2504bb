// Fetching a published release back: the manifest (its digest checked when the reference pins
// one), every layer streamed through its digest, all linked into DIR under their titles only once
// every one matched: a tampered blob leaves none of the release's files. Referrers are always
// listed; with `referrers`, their files are fetched too, each under DIR/referrers/<manifest hex>/.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { OCI_MANIFEST, manifestMediaType, type Descriptor } from '../oci/media-types.ts';
import { listReferrers, type Target } from '../oci/push.ts';
import { formatReference, type ImageReference } from '../oci/reference.ts';
import { BlobStore, ingestRetrying } from '../store/blob-store.ts';
import { digestHex, sha256Digest } from '../store/sha256.ts';
import { RELEASE_ARTIFACT_TYPE, checkLayers } from './oci-artifact.ts';

/** The staging store's directory inside DIR, removed when a fetch completes. */
export const STAGING = '.metalk8s-fetch';

export interface FetchedFile {
  title: string;
  mediaType: string;
  digest: string;
  size: number;
  /** Where it was written. */
  path: string;
}

export interface Fetched {
  reference: string;
  digest: string;
  files: FetchedFile[];
  referrers: { artifactType: string; digest: string; source: 'api' | 'tag'; files: FetchedFile[] }[];
}

export async function fetchRelease(
  ref: ImageReference,
  dir: string,
  target: Target,
  options: { referrers?: boolean } = {},
): Promise<Fetched> {
  const reference = ref.digest ?? ref.tag;
  if (!reference) throw new BuildError(`${formatReference(ref)}: needs a tag or a digest`);
  const release = await artifact(target, reference, RELEASE_ARTIFACT_TYPE);
  await mkdir(dir, { recursive: true }).catch((error: Error) => {
    throw new BuildError(`${dir}: cannot create the directory (${error.message})`);
  });
  // Blobs arrive in a store of their own inside DIR: a broken fetch leaves only that, which the
  // next fetch resumes from; a referrer's blob the release has is not fetched twice.
  const staging = join(dir, STAGING);
  const store = new BlobStore(staging);
  const files = await download(target, store, release.layers, dir);
  const listed = await listReferrers(target, release.digest);
  const referrers: Fetched['referrers'] = [];
  for (const entry of listed.manifests) {
    const artifactType = entry.artifactType ?? '';
    let fetched: FetchedFile[] = [];
    if (options.referrers) {
      const referrer = await artifact(target, entry.digest);
      fetched = await download(target, store, referrer.layers, join(dir, 'referrers', digestHex(entry.digest)));
    }
    referrers.push({ artifactType, digest: entry.digest, source: listed.source, files: fetched });
  }
  await rm(staging, { recursive: true, force: true });
  return { reference: formatReference({ ...ref, digest: release.digest }), digest: release.digest, files, referrers };
}

/** A manifest by tag or digest, checked: its digest (when pinned), its type, its layers' titles. */
async function artifact(target: Target, reference: string, artifactType?: string) {
  const { client, repository, signal } = target;
  const { bytes, mediaType, url } = await client.manifest(repository, reference, OCI_MANIFEST, signal);
  const digest = sha256Digest(bytes);
  if (reference.startsWith('sha256:') && digest !== reference)
    throw new BuildError(`${url}: the manifest's digest is ${digest}, not ${reference}`);
  let manifest: { mediaType?: unknown; artifactType?: unknown; layers?: unknown };
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as typeof manifest;
  } catch {
    throw new BuildError(`${url}: the manifest is not JSON`);
  }
  const type = manifestMediaType(manifest as Parameters<typeof manifestMediaType>[0], mediaType);
  if (type !== OCI_MANIFEST) throw new BuildError(`${url}: a ${type}, not an OCI image manifest`);
  if (artifactType && manifest.artifactType !== artifactType)
    throw new BuildError(
      `${url}: artifactType ${JSON.stringify(manifest.artifactType ?? null)}, not a release (${artifactType})`,
    );
  return { digest, layers: checkLayers(manifest.layers, url) };
}

/**
 * Every layer into `dir` under its title: downloaded into the staging store (verified while it
 * streams, resumed after a broken connection), then linked into place once every one is there.
 */
async function download(
  target: Target,
  store: BlobStore,
  layers: (Descriptor & { title: string })[],
  dir: string,
): Promise<FetchedFile[]> {
  const { client, repository, signal } = target;
  for (const layer of layers) {
    let url = `${client.endpoint.origin}/v2/${repository}/blobs/${layer.digest}`;
    await ingestRetrying(
      store,
      layer.digest,
      async (offset) => {
        const answer = await client.blob(repository, layer.digest, offset, signal);
        url = answer.url;
        return answer;
      },
      { size: layer.size, signal, describe: () => `${url} (${layer.title})` },
    );
  }
  const files: FetchedFile[] = [];
  for (const layer of layers) {
    const path = join(dir, layer.title);
    await store.linkTo(layer.digest, path);
    files.push({ title: layer.title, mediaType: layer.mediaType, digest: layer.digest, size: layer.size, path });
  }
  return files;
}
