// The OCI artifact of a release: which files it carries, under which media types, and the checks
// a fetched manifest must pass before any of its names becomes a path.
import { BuildError } from '../errors.ts';
import { TITLE_ANNOTATION, type Descriptor } from '../oci/media-types.ts';
import { parseDigest } from '../store/sha256.ts';

/** The release manifest's artifactType: an ISO and the files that vouch for it. */
export const RELEASE_ARTIFACT_TYPE = 'application/vnd.scality.metalk8s.iso.v1';

export const ISO_MEDIA_TYPE = 'application/x-iso9660-image';
export const SBOM_MEDIA_TYPE = 'application/spdx+json';
export const SIGNATURE_MEDIA_TYPE = 'application/pgp-signature';
export const STATEMENT_MEDIA_TYPE = 'application/vnd.in-toto+json';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const SUMS_MEDIA_TYPE = 'text/plain';

export interface ReleaseFile {
  /** Its name beside the ISO, and its layer's title. */
  name: string;
  mediaType: string;
  /** Said when it is missing: what leaves it out of a build. */
  absent?: string;
}

/**
 * The files beside `iso` that a release carries, in the manifest's layer order, by their build
 * names (tasks/iso.ts and tasks/sbom.ts): only the ISO and SHA256SUM are required.
 */
export function releaseFiles(iso: string): ReleaseFile[] {
  return [
    { name: iso, mediaType: ISO_MEDIA_TYPE },
    { name: 'SHA256SUM', mediaType: SUMS_MEDIA_TYPE },
    { name: 'SHA256SUM.asc', mediaType: SIGNATURE_MEDIA_TYPE, absent: 'the build signs with GPG_KEY' },
    { name: SBOM_NAME, mediaType: SBOM_MEDIA_TYPE },
    { name: `${iso}.provenance.json`, mediaType: STATEMENT_MEDIA_TYPE, absent: 'the iso task writes it' },
    { name: `${iso}.intoto.jsonl`, mediaType: DSSE_MEDIA_TYPE, absent: 'the build signs it with GPG_KEY' },
  ];
}

/** The SBOM's name at the ISO's root, and as a layer. */
export const SBOM_NAME = 'sbom.spdx.json';

/** A layer's title as a file name: one plain name, so a hostile manifest cannot write elsewhere. */
export function checkTitle(title: unknown, where: string): string {
  if (
    typeof title !== 'string' ||
    title.length === 0 ||
    title.length > 255 ||
    title === '.' ||
    title === '..' ||
    title.startsWith('.') ||
    !/^[A-Za-z0-9._+-]+$/.test(title)
  )
    throw new BuildError(
      `${where}: annotation ${TITLE_ANNOTATION} ${JSON.stringify(title)} is not a plain file name (letters, digits, ._+-, not starting with a dot)`,
    );
  return title;
}

/** The layers of a fetched manifest, each with a valid digest, size and title, titles distinct. */
export function checkLayers(layers: unknown, where: string): (Descriptor & { title: string })[] {
  if (!Array.isArray(layers) || layers.length === 0) throw new BuildError(`${where}: no layers`);
  const seen = new Set<string>();
  return layers.map((layer: Partial<Descriptor> | null, i) => {
    const at = `${where}: layers[${i}]`;
    const digest = parseDigest(layer?.digest, `${at}.digest`);
    if (!Number.isSafeInteger(layer?.size) || layer!.size! < 0)
      throw new BuildError(`${at}.size is not a non-negative integer`);
    const title = checkTitle(layer!.annotations?.[TITLE_ANNOTATION], at);
    if (seen.has(title)) throw new BuildError(`${at}: a second layer titled "${title}"`);
    seen.add(title);
    return { mediaType: String(layer!.mediaType ?? ''), digest, size: layer!.size!, title };
  });
}
