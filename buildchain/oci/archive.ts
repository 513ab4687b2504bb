// Image archives: one tar holding an image as an OCI image layout (index.json, oci-layout,
// blobs/sha256/<hex>) plus Docker's manifest.json, so both `ctr image import` and `docker load`
// read it. The node imports the images it needs before any registry runs (nginx, pause) from
// such files, as upstream's `docker save` tarballs. The pinned manifest is stored byte for byte,
// so the image keeps its digest once imported. Deterministic: sorted entries, fixed times, uid 0.
import { stat } from 'node:fs/promises';
import { digestHex } from '../store/sha256.ts';
import type { PulledImage } from './pull.ts';
import { writeBlobArchive } from '../store/archive.ts';
import type { BlobStore } from '../store/blob-store.ts';

export interface ArchiveOptions {
  /** The image's full name once imported: `docker.io/library/nginx:1.15.8`. */
  name: string;
  mtime: Date;
}

/** Writes `image` (from the store) as an archive at `file`, atomically. */
export async function writeImageArchive(
  store: BlobStore,
  image: PulledImage,
  file: string,
  options: ArchiveOptions,
): Promise<void> {
  const blobs = [
    image.top.digest,
    ...(image.child ? [image.child.digest] : []),
    ...image.blobs.map((blob) => blob.digest),
  ];
  const topSize = (await stat(store.path(image.top.digest))).size;
  const tag = options.name.slice(options.name.lastIndexOf(':') + 1);
  const blobPath = (digest: string) => `blobs/sha256/${digestHex(digest)}`;
  const [config, ...layers] = image.blobs;
  const metadata = new Map<string, string>([
    [
      'index.json',
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: image.top.mediaType,
            digest: image.top.digest,
            size: topSize,
            annotations: { 'io.containerd.image.name': options.name, 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    ],
    [
      'manifest.json',
      JSON.stringify([
        {
          Config: blobPath(config!.digest),
          RepoTags: [options.name],
          Layers: layers.map((layer) => blobPath(layer.digest)),
        },
      ]),
    ],
    ['oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' })],
  ]);
  const { sha256 } = await writeBlobArchive(store, blobs, metadata, file, { mtime: options.mtime });
  await store.vouch(file, sha256);
}
