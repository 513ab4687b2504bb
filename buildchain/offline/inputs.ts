// Air-gapped build farms: everything a build fetches (the product source included), taken from a connected machine's store into
// one archive (BUILD_ROOT/offline-inputs.tar), and put into an offline machine's store. There the
// build finds every image, package, key and spec source in the store and the package lock
// resolved, so it needs no network: the reachability checks ask nothing.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { loadBuildSpec } from '../oci/build-spec.ts';
import { buildLabels, declaredImages, pinnedSource, type LocalImage } from '../oci/declarations.ts';
import { mergeTagLocks, parseTagLock, readTagLock, writeTagLock } from '../oci/tag-lock-file.ts';
import { builtRecordFile, dockerfileInputs, parseBuiltRecord, recordedImage } from '../oci/dockerfile.ts';
import { parseSourceRecord, readSourceRecord, storedSource } from '../sources/record.ts';
import { storedImage } from '../oci/pull.ts';
import { writeBlobArchive, importBlobs } from '../store/archive.ts';
import { imageLocksDir, layerPackagesOf, parseImageLock, type LayerPackages } from '../oci/package-layers.ts';
import { parseLock } from '../rpm/lock.ts';
import { PackageWorkspace } from '../rpm/workspace.ts';
import { loadRuntimeDeclaration, runtimeDigest } from '../sources/npm-runtime.ts';
import { hexDigest } from '../store/sha256.ts';

/**
 * The archive's files besides blobs, as BUILD_ROOT holds them: the package lock, the image package
 * locks the build resolved, and the records of images built from a Dockerfile; and the image lock
 * (images.lock.yaml), which a build records in the project, perhaps not committed yet.
 */
const LOCK = 'packages.lock.json';
const IMAGE_LOCK = 'images.lock.yaml';

/** What of a build's settings its inputs depend on (the project's configuration has them). */
export interface OfflineBuild {
  buildRoot: string;
  imagesFile: string;
  packagesFile: string;
  runtimeFile: string;
  yumMirrors: ReadonlyMap<string, string>;
  product: { url: string; commit: string; tree: string; record: string } | undefined;
  /** The source revision local images are labelled with. */
  gitRef(): string | undefined;
  /** The values of `@@NAME` in image versions (the product's version). */
  templateValues(): Readonly<Record<string, string>>;
}
const imageLockName = (image: string) => `image-packages/${image}.lock.json`;
const builtRecordName = (image: string) => `built-images/${image}.json`;
const PRODUCT_RECORD = 'sources/metalk8s.json';

export function offlineArchive(config: OfflineBuild): string {
  return join(config.buildRoot, 'offline-inputs.tar');
}

/** The build's packages: its store (shared with images) and lock file. */
function workspaceOf(config: OfflineBuild): PackageWorkspace {
  return new PackageWorkspace({
    packagesFile: config.packagesFile,
    buildRoot: config.buildRoot,
    mirrors: config.yumMirrors,
  });
}

/** The packages of local images' layers that name their repositories, by image name. */
function imagePackages(config: OfflineBuild, workspace: PackageWorkspace): Map<string, LayerPackages> {
  const images = declaredImages(config).local.filter((image) => image.kind === 'spec');
  return new Map(
    images.flatMap((image) => {
      const packages = layerPackagesOf(loadBuildSpec(image.definition), image.name, workspace, {
        lockDir: imageLocksDir(config.buildRoot),
        jobs: 1,
      });
      return packages ? [[image.name, packages] as const] : [];
    }),
  );
}

/** The digests of every fetched input of the declared build, from the store (which must hold them). */
async function inputDigests(config: OfflineBuild, workspace: PackageWorkspace): Promise<string[]> {
  const { store } = workspace;
  const digests: string[] = [];
  const images = declaredImages(config);
  const pinned = [
    ...images.remote.map((image) => ({
      digest: pinnedSource(image, images.lockFile).digest,
      what: `${image.name} ${image.version}`,
    })),
    ...images.local
      .filter((image) => image.kind === 'spec')
      .flatMap((image) => {
        const base = loadBuildSpec(image.definition).base;
        return base ? [{ digest: base.digest, what: `the base image of ${image.name}` }] : [];
      }),
  ];
  for (const { digest, what } of pinned) {
    const image = await storedImage(store, digest, images.platform);
    if (!image)
      throw new BuildError(`${what} (${digest}) is not whole in the store ${store.root}; run ./build.ts images first`);
    digests.push(
      image.top.digest,
      ...(image.child ? [image.child.digest] : []),
      ...image.blobs.map((blob) => blob.digest),
    );
  }
  const lock = workspace.currentLock();
  if (!lock)
    throw new BuildError(
      `${workspace.lockFile}: no package lock resolved from ${config.packagesFile}; run ./build.ts packaging first`,
    );
  digests.push(...lock.packages.map((pkg) => pkg.digest), ...lock.keys.map((key) => key.digest));
  for (const pkg of workspace.declarations.build) {
    for (const source of pkg.sources) if (source.sha256) digests.push(hexDigest(source.sha256));
  }
  for (const [image, packages] of imagePackages(config, workspace)) {
    const imageLock = packages.current();
    if (!imageLock)
      throw new BuildError(
        `${packages.lockFile}: no package lock of image ${image} resolved from ${packages.options.definition}; run ./build.ts images first`,
      );
    digests.push(...imageLock.layers.flatMap((layer) => layer.packages.map((pkg) => pkg.digest)));
  }
  const runtime = loadRuntimeDeclaration(config.runtimeFile);
  if (!(await store.has(runtimeDigest(runtime))))
    throw new BuildError(
      `${runtime.name} ${runtime.version} (${runtime.file}) is not in the store ${store.root}; run ./build.ts populate_iso first`,
    );
  digests.push(runtimeDigest(runtime));
  // The product source travels as its commit's archive: the farm unpacks it without git.
  if (config.product) {
    const file = config.product.record;
    const archive = await storedSource(store, readSourceRecord(file), config.product.commit);
    if (!archive)
      throw new BuildError(
        `${file}: the store holds no archive of ${config.product.url} at ${config.product.commit}; run ./build.ts _product_source first`,
      );
    digests.push(archive);
  }
  // Dockerfile images travel as built: the farm lays them out without DOCKER_BIN.
  for (const declared of dockerfileImages(config)) {
    const image = { ...declared, labels: buildLabels(declared, config.gitRef()) };
    const record = builtRecordFile(config.buildRoot, image.name);
    const built = await recordedImage(store, record, dockerfileInputs(image));
    if (!built)
      throw new BuildError(
        `${record}: ${image.name} was not built from the current ${image.definition} (or the store lacks part of it); run ./build.ts images first`,
      );
    digests.push(built.top.digest, ...built.blobs.map((blob) => blob.digest));
  }
  return digests;
}

/**
 * The local images built from a Dockerfile. Their versions are not read here: the product's are
 * known only once its source is unpacked, which an import comes before.
 */
function dockerfileImages(config: OfflineBuild): LocalImage[] {
  return declaredImages(config).local.filter((image) => image.kind === 'dockerfile');
}

/** Writes the archive of the build's inputs; what it holds. */
export async function exportInputs(
  config: OfflineBuild,
  file = offlineArchive(config),
): Promise<{ blobs: number; bytes: number }> {
  const workspace = workspaceOf(config);
  const digests = await inputDigests(config, workspace);
  const files = new Map([[LOCK, readFileSync(workspace.lockFile, 'utf8')]]);
  // Image locks committed beside their definitions travel with the project; the build's own here.
  for (const [image, packages] of imagePackages(config, workspace)) {
    if (!existsSync(packages.committedLock)) files.set(imageLockName(image), readFileSync(packages.lockFile!, 'utf8'));
  }
  for (const image of dockerfileImages(config))
    files.set(builtRecordName(image.name), readFileSync(builtRecordFile(config.buildRoot, image.name), 'utf8'));
  if (config.product) files.set(PRODUCT_RECORD, readFileSync(config.product.record, 'utf8'));
  const { lockFile } = declaredImages(config);
  if (existsSync(lockFile)) files.set(IMAGE_LOCK, readFileSync(lockFile, 'utf8'));
  return writeBlobArchive(workspace.store, digests, files, file);
}

/** Puts an archive of inputs into this build's store, and its locks into BUILD_ROOT. */
export async function importInputs(config: OfflineBuild, file: string): Promise<{ blobs: number }> {
  if (!existsSync(file)) throw new BuildError(`${file}: no such file`);
  const workspace = workspaceOf(config);
  // Each file the archive may hold: where it goes, and its check (malformed ones are refused now
  // rather than at build time).
  const places = new Map<string, { path: string; check: (text: string, where: string) => unknown }>([
    [LOCK, { path: workspace.lockFile, check: parseLock }],
  ]);
  for (const [image, packages] of imagePackages(config, workspace))
    places.set(imageLockName(image), { path: packages.lockFile!, check: parseImageLock });
  for (const image of dockerfileImages(config))
    places.set(builtRecordName(image.name), {
      path: builtRecordFile(config.buildRoot, image.name),
      check: parseBuiltRecord,
    });
  if (config.product) places.set(PRODUCT_RECORD, { path: config.product.record, check: parseSourceRecord });
  // The image lock joins the project's: an entry both hold with other digests is refused.
  const { lockFile } = declaredImages(config);
  const importLock = async (content: string) => {
    const where = `${file}: ${IMAGE_LOCK}`;
    await writeTagLock(
      lockFile,
      mergeTagLocks(readTagLock(lockFile), parseTagLock(content, where), { current: lockFile, incoming: where }),
    );
  };
  return importBlobs(workspace.store, file, new Set([...places.keys(), IMAGE_LOCK]), async (name, content) => {
    if (name === IMAGE_LOCK) return importLock(content);
    const place = places.get(name)!;
    place.check(content, `${file}: ${name}`);
    await writeFileAtomic(place.path, content);
  });
}
