// What an ISO tree holds, for its SBOM: the images of the declarations (where each sits, its
// pinned or built manifest digest) and the packages of its yum repositories (fetched ones from the
// lock, built ones read with rpm), and the files whose change changes that list.
import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { imageDir, pinnedSource, remoteImagePlace, type ImageDeclarations } from '../oci/declarations.ts';
import { readLock } from '../rpm/lock.ts';
import type { SpecPackage } from '../rpm/declarations.ts';
import { digestHex, sha256Digest, sha256File } from '../store/sha256.ts';
import { readBuiltList } from '../rpm/rpmbuild.ts';
import { requireExecutable, runTool } from '../tools.ts';
import type { SbomImage, SbomRpm } from './sbom.ts';

export interface ImageInventory {
  isoRoot: string;
  /** A file's hex sha256, taken from what the build already knows when it can (BlobStore.sha256Of). */
  sha256Of?: (path: string) => Promise<string>;
  declarations: ImageDeclarations;
  /** How a local image's definition is named: relative to the project, or `product:<path>`. */
  definitionName(definition: string, fromProduct: boolean): string;
}

/** What says which images the tree holds: each layout's manifest.json, each archive. */
export function imageFiles({ isoRoot, declarations }: ImageInventory): string[] {
  return [
    ...declarations.remote.map((image) =>
      image.archive ? remoteImagePlace(isoRoot, image) : join(remoteImagePlace(isoRoot, image), 'manifest.json'),
    ),
    ...declarations.local.map((image) => join(imageDir(join(isoRoot, 'images'), image), 'manifest.json')),
  ];
}

export async function inventoryImages({
  isoRoot,
  declarations,
  definitionName,
  sha256Of = sha256File,
}: ImageInventory): Promise<SbomImage[]> {
  const images: SbomImage[] = [];
  for (const image of declarations.remote) {
    const { registry, repository, digest } = pinnedSource(image, declarations.lockFile);
    const place = remoteImagePlace(isoRoot, image);
    images.push({
      name: image.name,
      version: image.version,
      registry,
      repository,
      digest,
      archive: image.archive !== false,
      path: relative(isoRoot, place),
      ...(image.archive ? { fileSha256: await sha256Of(place) } : {}),
    });
  }
  for (const image of declarations.local) {
    const dir = imageDir(join(isoRoot, 'images'), image);
    const digest = sha256Digest(readFileSync(join(dir, 'manifest.json')));
    images.push({
      name: image.name,
      version: image.version,
      registry: 'local',
      repository: definitionName(image.definition, image.fromProduct),
      digest,
      archive: false,
      path: relative(isoRoot, dir),
    });
  }
  return images;
}

export interface PackageInventory {
  lockFile: string;
  /** As ImageInventory's. */
  sha256Of?: (path: string) => Promise<string>;
  /** Each spec build and the list of binary packages it made. */
  built: readonly { pkg: SpecPackage; list: string }[];
  /** Where a repository's file sits in the ISO (packages/redhat/metalk8s-<repo>-el7/<file>). */
  inIso(repository: string, file: string): string;
  /** How a spec file is named in the SBOM (relative to the project). */
  specName(spec: string): string;
}

/** What says which packages the repositories hold: the lock, the lists of built packages. */
export function packageFiles({ lockFile, built }: PackageInventory): string[] {
  return [lockFile, ...built.map(({ list }) => list)];
}

export async function inventoryPackages(
  { lockFile, built, inIso, specName, sha256Of = sha256File }: PackageInventory,
  signal: AbortSignal,
): Promise<SbomRpm[]> {
  const rpms: SbomRpm[] = readLock(lockFile).packages.map((pkg) => ({
    name: pkg.name,
    epoch: pkg.epoch,
    version: pkg.version,
    release: pkg.release,
    arch: pkg.arch,
    sha256: digestHex(pkg.digest),
    origin: { repository: pkg.repo },
    path: inIso(pkg.repo, basename(pkg.location)),
  }));
  for (const { pkg, list } of built) {
    for (const file of await readBuiltList(list)) {
      const [name, epoch, version, release, arch] = (
        await runTool(
          requireExecutable('rpm'),
          ['-qp', '--qf', '%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}', file],
          {
            signal,
            what: `reading ${file}`,
          },
        )
      ).split('\t') as [string, string, string, string, string];
      rpms.push({
        name,
        epoch,
        version,
        release,
        arch,
        sha256: await sha256Of(file),
        origin: { spec: specName(pkg.spec) },
        path: inIso(pkg.repository, basename(file)),
      });
    }
  }
  return rpms;
}
