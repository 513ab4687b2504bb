// Publishing a release to an OCI registry: the ISO and the files beside it as the layers of one
// artifact (oci-artifact.ts says which), then the SBOM and the signature again as referrers of
// that manifest, so that tools that look for an image's SBOM or signature find them.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.ts';
import { withAtomicFile } from '../fs/atomic.ts';
import { IsoReader } from '../iso9660/reader.ts';
import { EMPTY_CONFIG, artifactManifest } from '../oci/artifact.ts';
import { loadCredentials, type CredentialLookup } from '../oci/credentials.ts';
import { OCI_MANIFEST, TITLE_ANNOTATION, type Descriptor } from '../oci/media-types.ts';
import {
  bytesBlob,
  fileBlob,
  pushBlob,
  pushManifest,
  pushReferrer,
  type BlobPushResult,
  type Target,
} from '../oci/push.ts';
import { formatReference, type ImageReference } from '../oci/reference.ts';
import { RegistryClient, resolveEndpoint } from '../oci/registry.ts';
import { hexDigest, sha256File } from '../store/sha256.ts';
import {
  RELEASE_ARTIFACT_TYPE,
  SBOM_MEDIA_TYPE,
  SBOM_NAME,
  SIGNATURE_MEDIA_TYPE,
  releaseFiles,
} from './oci-artifact.ts';
import { listedSha256 } from './verify.ts';

/** Requests to the registry of `ref` (HTTP on loopback, else HTTPS), with the pulls' credentials. */
export function releaseTarget(ref: ImageReference, signal: AbortSignal, credentials?: CredentialLookup): Target {
  const client = new RegistryClient(resolveEndpoint(ref.registry, new Map()), {
    credentials: credentials ?? loadCredentials(),
  });
  return { client, repository: ref.repository, signal };
}

export interface PublishedFile {
  title: string;
  mediaType: string;
  digest: string;
  size: number;
  /** What the push did: the registry had it, linked it, or received it. */
  push: BlobPushResult;
}

export interface Published {
  /** `registry/repository:tag@sha256:...` */
  reference: string;
  digest: string;
  files: PublishedFile[];
  /** Optional files not found, each with why (the build setting that makes it). */
  missing: string[];
  referrers: { artifactType: string; digest: string; listedBy: 'api' | 'tag' }[];
}

/** Pushes the release of `iso` (the ISO, with the files beside it) to `ref`, which has a tag. */
export async function publishRelease(
  iso: string,
  ref: ImageReference & { tag: string },
  target: Target,
  onBytes?: (bytes: number) => void,
): Promise<Published> {
  const found = await stat(iso).catch(() => undefined);
  if (!found?.isFile()) throw new BuildError(`${iso}: no such ISO file`);
  const dir = dirname(iso);
  const name = basename(iso);
  const scratch = await mkdtemp(join(tmpdir(), 'mk8s-publish-'));
  try {
    const files: (PublishedFile & { path: string })[] = [];
    const missing: string[] = [];
    for (const file of releaseFiles(name)) {
      let path = join(dir, file.name);
      let size = (await stat(path).catch(() => undefined))?.size;
      if (size === undefined && file.name === SBOM_NAME) {
        // The build leaves the SBOM inside the ISO (its root), not beside it.
        path = join(scratch, SBOM_NAME);
        size = await sbomFromIso(iso, path);
        if (size === undefined) throw new BuildError(`${iso}: no ${SBOM_NAME} beside it nor at its root`);
      }
      if (size === undefined) {
        if (!file.absent) throw new BuildError(`${path}: no such file; a release is published with it beside ${iso}`);
        missing.push(`${file.name}: none beside ${name}, not published (${file.absent})`);
        continue;
      }
      const digest = hexDigest(await sha256File(path, size));
      files.push({ path, title: file.name, mediaType: file.mediaType, digest, size, push: 'present' });
    }
    const sums = join(dir, 'SHA256SUM');
    const listed = listedSha256(await readFile(sums, 'utf8'), name);
    if (!listed || hexDigest(listed) !== files[0]!.digest)
      throw new BuildError(
        `${sums}: ${listed ? `lists sha256 ${listed}` : 'lists no checksum'} for ${name}, which is ${files[0]!.digest}`,
      );

    await pushBlob(target, bytesBlob(EMPTY_CONFIG));
    for (const file of files)
      file.push = await pushBlob(target, fileBlob(file.path, file.digest, file.size), onBytes ? { onBytes } : {});
    const layers = files.map(layerOf);
    const bytes = artifactManifest({ artifactType: RELEASE_ARTIFACT_TYPE, layers });
    const { digest } = await pushManifest(target, ref.tag, bytes, OCI_MANIFEST);
    const subject: Descriptor = { mediaType: OCI_MANIFEST, digest, size: bytes.length };

    // Referrers reuse the release's blobs: nothing is uploaded twice.
    const referrers: Published['referrers'] = [];
    const byTitle = (title: string) => layers.filter((layer) => layer.annotations?.[TITLE_ANNOTATION] === title);
    for (const [artifactType, titles] of [
      [SBOM_MEDIA_TYPE, [SBOM_NAME]],
      // The signature is of SHA256SUM: the referrer carries both, a verifier needs both.
      [SIGNATURE_MEDIA_TYPE, ['SHA256SUM.asc', 'SHA256SUM']],
    ] as const) {
      const referrerLayers = titles.flatMap(byTitle);
      if (referrerLayers.length !== titles.length) continue;
      const pushed = await pushReferrer(target, artifactManifest({ artifactType, layers: referrerLayers, subject }));
      referrers.push({ artifactType, ...pushed });
    }
    return {
      reference: formatReference({ ...ref, digest }),
      digest,
      files: files.map(({ path: _path, ...file }) => file),
      missing,
      referrers,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function layerOf(file: PublishedFile): Descriptor {
  return {
    mediaType: file.mediaType,
    digest: file.digest,
    size: file.size,
    annotations: { [TITLE_ANNOTATION]: file.title },
  };
}

/** Copies the ISO's own sbom.spdx.json to `path`; its size, or undefined when the ISO has none. */
async function sbomFromIso(iso: string, path: string): Promise<number | undefined> {
  const reader = await IsoReader.open(iso);
  try {
    const entry = (await reader.list()).entries.find((e) => e.path === SBOM_NAME && e.type === 'file');
    if (!entry) return undefined;
    await withAtomicFile(path, (tmp) => pipeline(Readable.from(reader.extentStream(entry)), createWriteStream(tmp)));
    return entry.size;
  } finally {
    await reader.close();
  }
}
