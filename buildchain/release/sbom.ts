// The ISO's software bill of materials, SPDX 2.3 JSON (sbom.spdx.json at the ISO root): every
// container image (name, tag, manifest digest, source registry, where it sits in the ISO) and
// every RPM (NEVRA, sha256, source repository or spec file, where it sits), each with a purl.
// `./toolkit.ts verify` checks the ISO's files against it. Deterministic: packages sorted, the
// namespace derived from the content, the creation time given.
import { digestHex, sha256Digest } from '../store/sha256.ts';

export interface SbomImage {
  name: string;
  version: string;
  registry: string;
  repository: string;
  /** The pinned manifest. */
  digest: string;
  /** In the ISO: images/<name>/<version> (a layout) or images/<name>-<version>.tar (an archive). */
  path: string;
  archive: boolean;
  /** Of an archive: the tar's own sha256, what verify checks. */
  fileSha256?: string;
}

export interface SbomRpm {
  name: string;
  epoch: string;
  version: string;
  release: string;
  arch: string;
  sha256: string;
  /** The yum repository it was fetched from, or the spec file it was built from. */
  origin: { repository: string } | { spec: string };
  /** In the ISO: packages/redhat/metalk8s-<repo>-el7/<file>. */
  path: string;
}

export interface SbomInput {
  product: string;
  /** The product's version: the document's name. */
  version: string;
  /** The version of the tool that wrote it (the build chain's own): the document's creator. */
  toolVersion: string;
  /** RFC 3339, seconds, UTC. */
  created: string;
  images: readonly SbomImage[];
  rpms: readonly SbomRpm[];
  /** The JavaScript runtime shipped for the agent (runtime/node), as an npm package. */
  runtime?: SbomRuntime;
  /** The product source the Salt tree and the product's images were built from. */
  source?: SbomSource;
}

export interface SbomSource {
  name: string;
  /** A git URL, or a local repository's path. */
  url: string;
  commit: string;
  /** Of the commit's `git archive`, as stored. */
  archiveSha256: string;
}

/** A git URL as SPDX's downloadLocation wants it: <vcs>+<transport>://...@<revision>. */
function vcsLocation(url: string, commit: string): string {
  const transport = /^[a-z][a-z0-9+.-]*:\/\//i.test(url)
    ? url
    : url.startsWith('/')
      ? `file://${url}`
      : `ssh://${url.replace(':', '/')}`;
  return `git+${transport}@${commit}`;
}

function sourcePackage(source: SbomSource) {
  const location = vcsLocation(source.url, source.commit);
  return spdxPackage({
    id: id('Source', `${source.name}-${source.commit}`),
    name: source.name,
    version: source.commit,
    location,
    purpose: 'SOURCE',
    sha256: source.archiveSha256,
    purl: `pkg:generic/${source.name}@${source.commit}?vcs_url=${encodeURIComponent(location)}`,
    comment: `the product source: the Salt formula and pillar and the product's own images are built from commit ${source.commit}; the checksum is its git archive's`,
  });
}

export interface SbomRuntime {
  name: string;
  version: string;
  /** Of runtime/node, as the ISO holds it (what verify checks). */
  sha256: string;
  /** Of the npm tarball it was unpacked from, as pinned. */
  tarballSha256: string;
  license: string;
  /** Where the tarball was fetched from. */
  url: string;
}

function runtimePackage(runtime: SbomRuntime) {
  return spdxPackage({
    id: id('NPM', `${runtime.name}-${runtime.version}`),
    name: runtime.name,
    version: runtime.version,
    file: 'runtime/node',
    location: runtime.url,
    purpose: 'APPLICATION',
    sha256: runtime.sha256,
    license: runtime.license,
    purl: `pkg:npm/${runtime.name}@${runtime.version}`,
    comment: `the JavaScript runtime of the node-side agent, unpacked with runtime/LICENSE from the npm tarball of sha256 ${runtime.tarballSha256}`,
  });
}

const NOASSERTION = 'NOASSERTION';
const id = (kind: string, text: string) => `SPDXRef-${kind}-${text.replace(/[^A-Za-z0-9.-]/g, '-')}`;

interface PackageFields {
  id: string;
  name: string;
  version: string;
  /** Where it sits in the ISO; none for what the ISO was built from. */
  file?: string;
  location: string;
  purpose: string;
  sha256: string;
  license?: string;
  purl: string;
  comment: string;
}

/** An SPDX package: what is known of it, NOASSERTION for the rest. */
function spdxPackage(fields: PackageFields) {
  return {
    SPDXID: fields.id,
    name: fields.name,
    versionInfo: fields.version,
    ...(fields.file !== undefined ? { packageFileName: fields.file } : {}),
    downloadLocation: fields.location,
    primaryPackagePurpose: fields.purpose,
    filesAnalyzed: false,
    checksums: [{ algorithm: 'SHA256', checksumValue: fields.sha256 }],
    licenseConcluded: NOASSERTION,
    licenseDeclared: fields.license ?? NOASSERTION,
    copyrightText: NOASSERTION,
    supplier: NOASSERTION,
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: fields.purl }],
    comment: fields.comment,
  };
}

function imagePackage(image: SbomImage) {
  return spdxPackage({
    id: id('Image', `${image.name}-${image.version}`),
    name: image.name,
    version: image.version,
    file: image.path,
    location: NOASSERTION,
    purpose: 'CONTAINER',
    // A layout is checked by its manifest; an archive by the tar itself.
    sha256: image.archive && image.fileSha256 ? image.fileSha256 : digestHex(image.digest),
    purl: `pkg:oci/${image.name}@${encodeURIComponent(image.digest)}?repository_url=${encodeURIComponent(`${image.registry}/${image.repository}`)}&tag=${encodeURIComponent(image.version)}`,
    comment: `pulled by digest from ${image.registry}/${image.repository}@${image.digest}${image.archive ? ', saved as an image archive' : ''}`,
  });
}

function rpmPackage(rpm: SbomRpm) {
  const evr = `${rpm.epoch !== '0' ? `${rpm.epoch}:` : ''}${rpm.version}-${rpm.release}`;
  const namespace = 'repository' in rpm.origin ? rpm.origin.repository : 'scality';
  return spdxPackage({
    id: id('RPM', `${rpm.name}-${evr}.${rpm.arch}`),
    name: rpm.name,
    version: evr,
    file: rpm.path,
    location: NOASSERTION,
    purpose: 'INSTALL',
    sha256: rpm.sha256,
    purl: `pkg:rpm/${namespace}/${rpm.name}@${rpm.version}-${rpm.release}?arch=${rpm.arch}${rpm.epoch !== '0' ? `&epoch=${rpm.epoch}` : ''}`,
    comment:
      'repository' in rpm.origin
        ? `fetched from yum repository ${rpm.origin.repository}`
        : `built from ${rpm.origin.spec}`,
  });
}

export function spdxDocument(input: SbomInput): Record<string, unknown> {
  const packages = [
    ...[...input.images].sort((a, b) => (a.path < b.path ? -1 : 1)).map(imagePackage),
    ...[...input.rpms].sort((a, b) => (a.path < b.path ? -1 : 1)).map(rpmPackage),
    ...(input.runtime ? [runtimePackage(input.runtime)] : []),
    ...(input.source ? [sourcePackage(input.source)] : []),
  ];
  const name = `${input.product} ${input.version}`;
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    documentNamespace: `https://metalk8s.scality.com/spdx/${input.product.toLowerCase()}-${input.version}-${digestHex(sha256Digest(JSON.stringify(packages)))}`,
    creationInfo: {
      created: input.created,
      creators: [`Tool: metalk8s-buildchain-${input.toolVersion}`, 'Organization: Scality'],
    },
    packages,
    relationships: packages.map((pkg) => ({
      spdxElementId: 'SPDXRef-DOCUMENT',
      relationshipType: 'DESCRIBES',
      relatedSpdxElement: pkg.SPDXID,
    })),
  };
}
