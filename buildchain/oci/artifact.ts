// OCI artifacts (image spec 1.1's guidance): an image manifest with an `artifactType`, the empty
// config, files as layers, and optionally a `subject` that makes it a referrer of another manifest.
import { sha256Digest } from '../store/sha256.ts';
import { OCI_EMPTY, OCI_MANIFEST, type Descriptor, type ImageManifest } from './media-types.ts';

/** The empty config's bytes: pushed as a blob like any other, shared by every artifact. */
export const EMPTY_CONFIG = Buffer.from('{}');
export const EMPTY_DESCRIPTOR: Descriptor = {
  mediaType: OCI_EMPTY,
  digest: sha256Digest(EMPTY_CONFIG),
  size: EMPTY_CONFIG.length,
};

export interface ArtifactSpec {
  artifactType: string;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The manifest's bytes, as pushed and digested (key order fixed, so the digest is reproducible). */
export function artifactManifest(spec: ArtifactSpec): Buffer {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: spec.artifactType,
    config: EMPTY_DESCRIPTOR,
    layers: spec.layers,
    ...(spec.subject ? { subject: spec.subject } : {}),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  return Buffer.from(JSON.stringify(manifest));
}
