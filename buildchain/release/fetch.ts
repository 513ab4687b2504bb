// Fetching a published release back: the manifest (its digest checked when the reference pins
// one), every layer streamed through its digest into DIR under its title, all renamed into place
// only once every one matched: a tampered blob leaves DIR as it was. Referrers are always listed;
// with `referrers`, their files are fetched too, each under DIR/referrers/<manifest hex>/.
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.ts';
import { tempPathFor } from '../fs/atomic.ts';
import { OCI_MANIFEST, manifestMediaType, type Descriptor } from '../oci/media-types.ts';
import { listReferrers, type Target } from '../oci/push.ts';
import { formatReference, type ImageReference } from '../oci/reference.ts';
import { DigestVerifier, digestHex, sha256Digest } from '../store/sha256.ts';
import { RELEASE_ARTIFACT_TYPE, checkLayers } from './oci-artifact.ts';

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
  const files = await download(target, release.layers, dir);
  const listed = await listReferrers(target, release.digest);
  const referrers: Fetched['referrers'] = [];
  for (const entry of listed.manifests) {
    const artifactType = entry.artifactType ?? '';
    let fetched: FetchedFile[] = [];
    if (options.referrers) {
      const referrer = await artifact(target, entry.digest);
      fetched = await download(target, referrer.layers, join(dir, 'referrers', digestHex(entry.digest)));
    }
    referrers.push({ artifactType, digest: entry.digest, source: listed.source, files: fetched });
  }
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

/** Every layer into `dir` under its title, verified while it streams; renamed in once all matched. */
async function download(
  target: Target,
  layers: (Descriptor & { title: string })[],
  dir: string,
): Promise<FetchedFile[]> {
  await mkdir(dir, { recursive: true }).catch((error: Error) => {
    throw new BuildError(`${dir}: cannot create the directory (${error.message})`);
  });
  const done: { tmp: string; file: FetchedFile }[] = [];
  try {
    for (const layer of layers) {
      const path = join(dir, layer.title);
      const tmp = tempPathFor(path);
      done.push({
        tmp,
        file: { title: layer.title, mediaType: layer.mediaType, digest: layer.digest, size: layer.size, path },
      });
      const { body, url } = await target.client.blob(target.repository, layer.digest, 0, target.signal);
      const verifier = new DigestVerifier(layer.digest, `${url} (${layer.title})`, { expectedSize: layer.size });
      await pipeline(body, verifier, createWriteStream(tmp, { mode: 0o644 }));
    }
    for (const { tmp, file } of done) await rename(tmp, file.path);
    return done.map(({ file }) => file);
  } catch (error) {
    await Promise.all(done.map(({ tmp }) => rm(tmp, { force: true })));
    throw error;
  }
}
