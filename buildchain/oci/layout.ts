// Image layouts as skopeo's `dir:` transport writes them, the form images take in the ISO:
//   manifest.json            the pinned manifest, byte for byte (an index when pinned so)
//   <hex>.manifest.json      the platform's manifest, when manifest.json is an index
//   <hex>                    one file per blob (config and layers), named by digest
//   version                  "Directory Transport Version: 1.1"
// Files are hard links into the blob store, so identical layers are one inode everywhere.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BuildError } from '../errors.ts';
import { replaceDirectory, writeFileAtomic } from '../fs/atomic.ts';
import { digestHex, parseDigest, sha256Digest } from '../store/sha256.ts';
import {
  IMAGE_MANIFESTS,
  MANIFEST_INDEXES,
  manifestMediaType,
  type Descriptor,
  type ImageManifest,
  type ManifestIndex,
} from './media-types.ts';
import type { PulledImage } from './pull.ts';
import type { BlobStore } from '../store/blob-store.ts';

export const DIR_TRANSPORT_VERSION = 'Directory Transport Version: 1.1\n';

/** The names a layout of this image holds, relative to its directory. */
export function layoutFiles(image: PulledImage): string[] {
  return [
    'manifest.json',
    'version',
    ...(image.child ? [`${digestHex(image.child.digest)}.manifest.json`] : []),
    ...new Set(image.blobs.map((blob) => digestHex(blob.digest))),
  ];
}

/**
 * Writes the layout of a stored image at `dir`, replacing what was there. It is assembled beside
 * `dir` and moved into place, so a reader sees the old layout or the new one, never a mix.
 */
export async function writeDirLayout(store: BlobStore, image: PulledImage, dir: string): Promise<void> {
  await replaceDirectory(dir, async (staging) => {
    await store.linkTo(image.top.digest, join(staging, 'manifest.json'));
    if (image.child)
      await store.linkTo(image.child.digest, join(staging, `${digestHex(image.child.digest)}.manifest.json`));
    for (const blob of image.blobs) await store.linkTo(blob.digest, join(staging, digestHex(blob.digest)));
    await writeFileAtomic(join(staging, 'version'), DIR_TRANSPORT_VERSION);
  });
}

/** A manifest read from a layout: its bytes' digest, type, and parsed content. */
export interface LayoutManifest {
  file: string;
  digest: string;
  mediaType: string;
  size: number;
  manifest?: ImageManifest;
  index?: ManifestIndex;
}

export interface Layout {
  dir: string;
  /** manifest.json */
  top: LayoutManifest;
  /** <hex>.manifest.json files (children of an index). */
  children: LayoutManifest[];
  /** Every blob the manifests name that is present, by digest. */
  blobs: Map<string, Descriptor>;
}

/**
 * Reads and checks a `dir:` layout: valid manifests, every blob of every present image manifest
 * present with its declared size. Errors name the file.
 */
export function readDirLayout(dir: string): Layout {
  const readManifest = (file: string): LayoutManifest => {
    const path = join(dir, file);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new BuildError(
        `${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); not an image layout`,
      );
    }
    let json: { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
    try {
      json = JSON.parse(bytes.toString('utf8')) as typeof json;
    } catch {
      throw new BuildError(`${path}: not JSON`);
    }
    if (json.schemaVersion !== 2)
      throw new BuildError(
        `${path}: schemaVersion ${String(json.schemaVersion)} is not supported (only Docker v2s2 and OCI manifests)`,
      );
    const mediaType = manifestMediaType(json);
    const entry: LayoutManifest = { file: path, digest: sha256Digest(bytes), mediaType, size: bytes.length };
    if (MANIFEST_INDEXES.includes(mediaType)) {
      if (!Array.isArray(json.manifests)) throw new BuildError(`${path}: index without "manifests"`);
      entry.index = json as unknown as ManifestIndex;
    } else if (IMAGE_MANIFESTS.includes(mediaType)) {
      if (!json.config || !Array.isArray(json.layers))
        throw new BuildError(`${path}: manifest without "config" or "layers"`);
      entry.manifest = json as unknown as ImageManifest;
    } else {
      throw new BuildError(`${path}: unknown manifest media type "${mediaType}"`);
    }
    return entry;
  };
  const top = readManifest('manifest.json');
  const children = readdirSync(dir)
    .filter((name) => /^[a-f0-9]{64}\.manifest\.json$/.test(name))
    .sort()
    .map(readManifest);
  for (const child of children) {
    if (`${digestHex(child.digest)}.manifest.json` !== basename(child.file)) {
      throw new BuildError(`${child.file}: content digest ${child.digest} does not match the file name`);
    }
  }
  if (top.index && children.length === 0)
    throw new BuildError(`${top.file}: an index, but no <digest>.manifest.json beside it`);
  const blobs = new Map<string, Descriptor>();
  for (const entry of [top, ...children]) {
    if (!entry.manifest) continue;
    for (const [position, blob] of [entry.manifest.config, ...entry.manifest.layers].entries()) {
      const digest = parseDigest(
        blob.digest,
        `${entry.file}: ${position === 0 ? 'config' : `layers[${position - 1}]`}.digest`,
      );
      const path = join(dir, digestHex(digest));
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        throw new BuildError(`${path}: missing blob ${digest} named by ${basename(entry.file)}`);
      }
      if (size !== blob.size)
        throw new BuildError(`${path}: ${size} bytes, but ${basename(entry.file)} declares ${blob.size}`);
      blobs.set(digest, blob);
    }
  }
  return { dir, top, children, blobs };
}
