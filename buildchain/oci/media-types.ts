// The manifest media types of Docker's v2 schema 2 and of OCI, and what each one is.

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** The config of an artifact that is not an image: the two bytes `{}` (image spec 1.1). */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** The annotation naming a layer's file, as ORAS and the image spec use it. */
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';

export const IMAGE_MANIFESTS: readonly string[] = [DOCKER_MANIFEST, OCI_MANIFEST];
export const MANIFEST_INDEXES: readonly string[] = [DOCKER_MANIFEST_LIST, OCI_INDEX];
/** The manifest's media type: the one inside it when present (OCI's is optional), else the header's. */
export function manifestMediaType(
  json: { mediaType?: unknown; manifests?: unknown; config?: unknown },
  served = '',
): string {
  if (typeof json.mediaType === 'string') return json.mediaType;
  if ([...IMAGE_MANIFESTS, ...MANIFEST_INDEXES].includes(served)) return served;
  return Array.isArray(json.manifests) ? OCI_INDEX : OCI_MANIFEST;
}

/** The Accept header of a manifest request: every type we can read, nothing that would make a
 *  registry down-convert to schema 1 (which would change the digest). */
export const MANIFEST_ACCEPT = [...IMAGE_MANIFESTS, ...MANIFEST_INDEXES].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  /** In an index (the referrers list): the artifact type of the manifest it points at. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  /** Set on an artifact (with an empty config): what kind of content the layers are. */
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  /** The manifest this one refers to (an SBOM's or signature's release): listed as its referrer. */
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ManifestIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}
