// Generated OCI images for tests and benchmarks: random layers, manifests, indexes, and OCI
// image layouts that skopeo can push. No test-runner imports: bench/ uses it too.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export interface Blob {
  digest: string;
  bytes: Buffer;
  mediaType: string;
  /** Of a layer: the digest of its uncompressed tar, the config's rootfs.diff_ids entry. */
  diffId?: string;
}

function blobOf(bytes: Buffer, mediaType: string): Blob {
  return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, bytes, mediaType };
}

/** A gzip-compressed layer holding one file of `size` random bytes. */
export async function randomLayer(name: string, size: number): Promise<Blob> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.entry({ name, size, mode: 0o644, mtime: new Date(0) }, randomBytes(size));
  archive.finalize();
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  const tar = Buffer.concat(chunks);
  return {
    ...blobOf(gzipSync(tar, { level: 1 }), 'application/vnd.oci.image.layer.v1.tar+gzip'),
    diffId: blobOf(tar, '').digest,
  };
}

export interface FixtureImage {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

export function imageOf(layers: Blob[], architecture = 'amd64', label = ''): FixtureImage {
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        architecture,
        os: 'linux',
        config: { Labels: { test: label } },
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId ?? layer.digest) },
        // One entry per layer, as every builder writes: buildah refuses a base whose history disagrees.
        history: layers.map((_, index) => ({ created_by: `test layer ${index}` })),
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
        layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.bytes.length })),
      }),
    ),
    'application/vnd.oci.image.manifest.v1+json',
  );
  return { manifest, config, layers };
}

export function indexOf(images: FixtureImage[]): Blob {
  return blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: images.map((image) => ({
          mediaType: image.manifest.mediaType,
          digest: image.manifest.digest,
          size: image.manifest.bytes.length,
          platform: {
            os: 'linux',
            architecture: (JSON.parse(image.config.bytes.toString()) as { architecture: string }).architecture,
          },
        })),
      }),
    ),
    'application/vnd.oci.image.index.v1+json',
  );
}

/** Writes an OCI image layout whose index.json points at `top` (a manifest or an index). */
export function writeOciLayout(dir: string, top: Blob, blobs: Blob[]): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const blob of [top, ...blobs]) writeFileSync(join(dir, 'blobs', 'sha256', blob.digest.slice(7)), blob.bytes);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: top.mediaType,
          digest: top.digest,
          size: top.bytes.length,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
}
