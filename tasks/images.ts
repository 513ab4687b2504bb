// images: the container images of the ISO, laid out under BUILD_ROOT/root/images/<name>/<version>/
// from the shared blob store (BUILD_ROOT/cache). Upstream's skopeo copy + docker build + hardlink -c,
// without a daemon: every layout file is a hard link into the store, so identical layers are one
// inode on disk and one extent in the ISO (_image_dedup_layers has nothing left to do).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { TaskDefinition, TaskSpec } from '../buildchain/engine/task.ts';
import { BuildError } from '../buildchain/errors.ts';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { listFiles } from '../buildchain/fs/walk.ts';
import { loadBuildSpec, type BuildSpec } from '../buildchain/oci/build-spec.ts';
import { buildImage, type PackageLayer } from '../buildchain/oci/builder.ts';
import { buildOrRecall, builtRecordFile } from '../buildchain/oci/dockerfile.ts';
import {
  buildLabels,
  imageDir,
  pinnedSource,
  remoteImagePlace,
  type ImageDeclarations,
  type LocalImage,
  type RemoteImage,
} from '../buildchain/oci/declarations.ts';
import { sha256Digest } from '../buildchain/store/sha256.ts';
import { storedImage } from '../buildchain/oci/pull.ts';
import { writeImageArchive } from '../buildchain/oci/archive.ts';
import { readDirLayout, writeDirLayout } from '../buildchain/oci/layout.ts';
import { unreachableError } from '../buildchain/oci/puller.ts';
import { lockDisagrees, lockTags, tagOnlyImages } from '../buildchain/oci/tag-lock.ts';
import { formatReference } from '../buildchain/oci/reference.ts';
import { imageLocksDir, layerPackagesOf, type LayerPackages } from '../buildchain/oci/package-layers.ts';
import { unreachableSources, type YumRepository } from '../buildchain/rpm/repository.ts';
import { localClosure } from '../buildchain/oci/local-closure.ts';
import { requireExecutable } from '../buildchain/tools.ts';
import { registryConfig } from '../static-registry/index.ts';
import { removeTree } from '../buildchain/engine/file-tasks.ts';
import { packageFiles } from '../buildchain/release/inventory.ts';
import type { BuildContext } from './context.ts';
import { generatedLine } from '../buildchain/generated.ts';

/** Whether `dir` holds a complete layout of the image pinned by `digest` (a few stats, no hashing). */
export function layoutComplete(dir: string, digest?: string): boolean {
  try {
    if (digest !== undefined && sha256Digest(readFileSync(join(dir, 'manifest.json'))) !== digest) return false;
    readDirLayout(dir);
    return true;
  } catch {
    return false;
  }
}

export function imageTasks(context: BuildContext): TaskDefinition[] {
  const { config } = context;
  const root = context.paths.images;
  // Read on first use: `./build.ts list` or a salt_tree build need not parse the image list.
  const declared = (): ImageDeclarations => context.images();
  // What images still need from the network: registries of remote images declared by tag that
  // the lock lacks, of those neither laid out nor whole in the store, and of local images' bases
  // not in the store; yum repositories of local images' packages layers without a lock, or with
  // locked packages the store lacks. (Whether a local image will be rebuilt is the engine's to
  // say, later: its inputs decide, not its layout.)
  const neededSources = async (): Promise<{ registries: string[]; repositories: YumRepository[] }> => {
    const { remote, local, platform } = declared();
    const { store } = context;
    const specs = local
      .filter((image) => image.kind === 'spec')
      .map((image) => ({ image, spec: loadBuildSpec(image.definition) }));
    const unlocked = remote.filter((image) => image.pin === 'tag').map((image) => image.source.registry);
    const pinned = [
      ...remote
        .filter((image) => image.pin !== 'tag' && !placed(context, image))
        .map((image) => pinnedSource(image, declared().lockFile)),
      ...specs.flatMap(({ spec }) => spec.base ?? []),
    ];
    const stored = await Promise.all(
      pinned.map(async (source) => (await storedImage(store, source.digest, platform)) !== undefined),
    );
    const repositories = (
      await Promise.all(
        specs.map(async ({ image, spec }) => (await remotePackagesOf(context, image, spec)?.needed()) ?? []),
      )
    ).flat();
    return {
      registries: [...unlocked, ...pinned.filter((_, index) => !stored[index]).map((source) => source.registry)],
      repositories: [...new Map(repositories.map((repo) => [repo.source.name, repo])).values()],
    };
  };
  return [
    {
      name: 'images',
      doc: 'Pull and build every container image of the ISO.',
      task_dep: ['_image_pull', '_image_build', '_image_registry_config'],
    },
    {
      name: '_image_mkdir_root',
      doc: 'Create the images directory of the ISO tree.',
      targets: [root],
      uptodate: [true],
      task_dep: ['_iso_mkdir_root'],
      actions: [async () => void (await mkdir(root, { recursive: true }))],
      clean: true,
    },
    {
      name: '_image_check_sources',
      doc: 'Stop within seconds if a registry or yum repository that images must come from does not answer.',
      // Only what images still need is asked: a complete build needs no network.
      uptodate: [
        async () => {
          const { registries, repositories } = await neededSources();
          return registries.length === 0 && repositories.length === 0;
        },
      ],
      actions: [
        async (ctx) => {
          const { registries, repositories } = await neededSources();
          const [registriesDown, repositoriesDown] = await Promise.all([
            context.puller.unreachable(registries),
            Promise.all(
              repositories.map(async (repo) => ({
                name: repo.source.name,
                baseurl: repo.baseurl,
                reason: await repo.probe(),
              })),
            ),
          ]);
          const failed = repositoriesDown.filter(
            (entry): entry is typeof entry & { reason: string } => entry.reason !== undefined,
          );
          // An image declared by tag that the lock lacks cannot be pinned without its registry.
          const down = new Set(registriesDown.map((entry) => entry.registry));
          const unpinned = declared()
            .remote.filter((image) => image.pin === 'tag' && down.has(image.source.registry))
            .map(
              (image) =>
                `${image.name} ${image.version}: declared by tag only, not in ${relative(config.root, declared().lockFile)}; its registry must answer once to record the digest`,
            );
          const registryError = registriesDown.length > 0 ? unreachableError(registriesDown) : undefined;
          const repositoryError = failed.length > 0 ? unreachableSources(failed, []) : undefined;
          if (registryError || repositoryError)
            throw new BuildError(
              [
                ...(registryError ? [registryError.message, ...unpinned] : []),
                ...(repositoryError ? [repositoryError.message] : []),
              ].join('\n'),
              [...(registryError?.settings ?? []), ...(repositoryError?.settings ?? [])],
            );
          ctx.log(
            `reachable: ${[...new Set(registries), ...repositories.map((repo) => repo.source.name)].sort().join(', ')}`,
          );
        },
      ],
    },
    {
      name: '_image_lock',
      doc: 'Record in images/images.lock.yaml the digest of each image declared by tag only that the lock lacks.',
      task_dep: ['_image_check_sources'],
      // Once every tag is locked, no registry is asked for a tag again.
      uptodate: [() => declared().remote.every((image) => image.pin !== 'tag')],
      actions: [
        async (ctx) => {
          const recorded = await lockTags(context.puller, declared(), { every: false, signal: ctx.signal });
          for (const entry of recorded)
            ctx.log(
              `${entry.name} ${entry.image}:${entry.version}: recorded ${entry.digest} in ${relative(config.root, declared().lockFile)} (commit it)`,
            );
        },
      ],
    },
    {
      name: 'image_lock',
      doc: 'Ask the registry for every image declared by tag only and write images/images.lock.yaml, to commit.',
      task_dep: ['_build_root'],
      actions: [
        async (ctx) => {
          const declarations = declared();
          await lockTags(context.puller, declarations, { every: true, signal: ctx.signal });
          ctx.log(`${declarations.lockFile}: ${tagOnlyImages(declarations).length} images declared by tag`);
        },
      ],
    },
    {
      basename: '_image_pull',
      doc: 'Pull remote images by digest into the store and lay them out in the ISO tree.',
      after: ['_image_lock'], // images declared by tag are pinned then
      create: () => declared().remote.map((image) => pullTask(context, image)),
    },
    {
      basename: '_image_registry_config',
      doc: "Write the nginx registry configuration serving the ISO's images (in the Salt tree).",
      // The registry's name prefix and server root carry the product's version.
      after: ['_image_pull', '_image_build', ...(config.product ? ['_product_source'] : [])],
      create: () => [registryConfigTask(context)],
    },
    {
      basename: '_image_build',
      doc: "Build local images (daemonless from image.yaml, or with DOCKER_BIN from a Dockerfile, the product's included).",
      after: config.product ? ['_product_source'] : [], // product images list the files of its tree
      create: () => declared().local.map((image) => buildTask(context, image)),
    },
  ];
}

/** Whether a remote image is in the ISO tree: its whole layout, or its archive (never before it is pinned). */
function placed({ config }: BuildContext, image: RemoteImage): boolean {
  if (image.pin === 'tag') return false;
  const place = remoteImagePlace(config.isoRoot, image);
  return image.archive ? existsSync(place) : layoutComplete(place, image.source.digest);
}

/** The name an archived image gets once imported: its registry, repository and version. */
function archiveName(image: RemoteImage): string {
  return `${image.source.registry}/${image.source.repository}:${image.version}`;
}

function pullTask(context: BuildContext, image: RemoteImage): TaskSpec {
  const { config } = context;
  const target = remoteImagePlace(config.isoRoot, image);
  const { platform } = context.images();
  // An image declared by tag is pinned once _image_lock has run (before this task is created,
  // unless it is named on the command line): its pin is read again when the task runs.
  const current = () => context.images().remote.find((entry) => entry.name === image.name) ?? image;
  return {
    name: `_image_pull:${image.name}`,
    title: `_image_pull: ${image.name} ${image.version}${image.archive ? ' (archive)' : ''}`,
    task_dep: ['_image_mkdir_root', '_image_check_sources', '_image_lock'],
    targets: [target],
    // The pin and the platform decide the content; the layout must still be whole on disk.
    uptodate: [
      formatReference(image.source),
      `${platform.os}/${platform.architecture}/${platform.variant ?? ''}`,
      image.archive ? 'archive' : 'layout',
      config.sourceDateEpoch ?? null,
      () => placed(context, current()),
    ],
    actions: [
      async (ctx) => {
        const { puller } = context;
        const pinned = current();
        const source = pinnedSource(pinned, context.images().lockFile);
        const describe = `${image.name} ${image.version}`;
        let done = 0;
        const pulled = await puller
          .pull(source, { describe, platform, signal: ctx.signal, onBytes: (bytes) => ctx.progress((done += bytes)) })
          .catch(async (error: unknown) => {
            // A locked digest the registry does not serve: say whether the tag moved away from it.
            if (pinned.pin !== 'locked' || ctx.signal.aborted) throw error;
            const served = await puller.resolveTag(pinned.source, describe, ctx.signal).catch(() => source.digest);
            throw served === source.digest ? error : lockDisagrees(pinned, context.images().lockFile, served);
          });
        if (image.archive) {
          await writeImageArchive(context.store, pulled, target, {
            name: archiveName(image),
            mtime: new Date((config.sourceDateEpoch ?? 0) * 1000),
          });
        } else {
          await writeDirLayout(context.store, pulled, target);
        }
        ctx.log(`${image.name}: ${pulled.blobs.length} blobs, ${done} bytes downloaded`);
      },
    ],
    clean: removeTree(target),
  };
}

/**
 * The static registry of the ISO's images, as upstream places it in the Salt tree: constants in
 * `<project>-registry-common.inc`, locations in `<project>-registry.inc`. On the node, images are
 * under the archive's mount point, which Salt puts in `$<project>_<version>_images`
 * (metalk8s-registry-config.inc.j2), and their names carry the `<project>-<version>/` prefix.
 */
function registryConfigTask(context: BuildContext): TaskSpec {
  const { config } = context;
  const declarations = context.images();
  const project = config.projectName.toLowerCase();
  const files = join(config.isoRoot, 'salt', 'metalk8s', 'repo', 'files');
  const common = join(files, `${project}-registry-common.inc`);
  const locations = join(files, `${project}-registry.inc`);
  const version = config.productVersion().version.full;
  const environment = `${project}-${version}`;
  const options = { namePrefix: environment, serverRoot: `$${environment.replace(/[.-]/g, '_')}_images` };
  // Archived images are imported on the nodes, not served.
  const images = [...declarations.remote.filter((image) => !image.archive), ...declarations.local].map((image) => ({
    image,
    dir: imageDir(context.paths.images, image),
  }));
  return {
    name: '_image_registry_config:nginx',
    task_dep: ['_iso_mkdir_root'],
    file_dep: images.map(({ dir }) => join(dir, 'manifest.json')),
    targets: [common, locations],
    uptodate: [options, images.map(({ image }) => `${image.name}:${image.version}`), config.projectName, version],
    actions: [
      async () => {
        // Declared images only: a layout left over from an earlier build is not in the ISO.
        const tags = images.map(({ image, dir }) => ({
          name: image.name,
          tag: image.version,
          layout: readDirLayout(dir),
        }));
        const tag = generatedLine(config.projectName, version, './build.ts _image_registry_config');
        await writeFileAtomic(common, tag + registryConfig([], { ...options, constants: 'only' }));
        await writeFileAtomic(locations, tag + registryConfig(tags, { ...options, constants: 'omit' }));
      },
    ],
    clean: true,
  };
}

/** The packages of a local image's layers that name their repositories; undefined when none does. */
function remotePackagesOf(
  { config, workspace }: BuildContext,
  image: LocalImage,
  spec: BuildSpec,
): LayerPackages | undefined {
  return layerPackagesOf(spec, image.name, workspace, {
    lockDir: imageLocksDir(config.buildRoot),
    jobs: config.pullJobs,
  });
}

function buildTask(context: BuildContext, image: LocalImage): TaskSpec {
  const { config } = context;
  const dir = imageDir(context.paths.images, image);
  const spec = image.kind === 'spec' ? loadBuildSpec(image.definition) : undefined;
  const inputs = spec
    ? specInputs(spec)
    : [
        ...listFiles(image.context).map((file) => join(image.context, file)),
        ...(image.compile ? [image.compile.builder] : []),
      ];
  // Package layers without repositories take their RPMs from the ISO's: built after them, rebuilt
  // when what the ISO holds changes (its lock and lists of built packages).
  const usesPackages = spec?.layers.some((layer) => layer.packages && !layer.repositories) ?? false;
  // Those that name repositories are pinned by the image's lock: a committed one, or the build's.
  const remote = spec && remotePackagesOf(context, image, spec);
  const namesDeclared =
    remote?.options.layers.some((layer) => layer.repositories.some((repo) => typeof repo === 'string')) ?? false;
  const lockInputs = [
    ...(remote && existsSync(remote.committedLock) ? [remote.committedLock] : []),
    ...(namesDeclared ? [config.packagesFile] : []),
  ];
  const labels = buildLabels(image, config.gitRef());
  return {
    name: `_image_build:${image.name}`,
    title: `_image_build: ${image.name} ${image.version}`,
    task_dep: [
      '_image_mkdir_root',
      '_image_check_sources',
      ...(usesPackages ? ['packaging'] : []),
      ...(image.fromProduct ? ['_product_source'] : []),
    ],
    file_dep: [...inputs, ...(usesPackages ? packageFiles(context.packageInventory()) : []), ...lockInputs],
    // A Dockerfile image's record too: an image taken from the shared cache is known as built here.
    targets: [dir, ...(spec ? [] : [builtRecordFile(config.buildRoot, image.name)])],
    cache: true,
    uptodate: [
      image.version,
      image.buildArgs,
      labels,
      image.compile ?? null,
      config.sourceDateEpoch ?? null,
      () => layoutComplete(dir),
    ],
    actions: [
      spec
        ? async (ctx) => {
            const built = await buildImage(spec, {
              store: context.store,
              puller: context.puller,
              labels,
              signal: ctx.signal,
              packageFiles: (layer, installed) =>
                layer.repositories
                  ? remote!.files(layer.index, installed, ctx.signal)
                  : isoPackageFilesNamed(context, layer, installed),
              ...(config.sourceDateEpoch !== undefined ? { sourceDateEpoch: config.sourceDateEpoch } : {}),
            });
            await remote?.save();
            await writeDirLayout(context.store, built, dir);
            ctx.log(`${image.name}: ${built.top.digest}`);
          }
        : dockerBuild(context, image, dir, labels),
    ],
    clean: removeTree(dir),
  };
}

/** The RPM files of a layer's packages and of what they require beyond `installed`, from the ISO's repositories. */
async function isoPackageFilesNamed(
  { config, paths }: BuildContext,
  layer: PackageLayer,
  installed: ReadonlySet<string>,
): Promise<string[]> {
  const root = paths.rpmRepositories;
  const repositories = existsSync(root)
    ? readdirSync(root)
        .filter((name) => name.endsWith('-el7'))
        .sort()
        .map((name) => join(root, name))
    : [];
  return localClosure(
    repositories,
    layer.packages,
    layer.where,
    installed,
    `the repositories of the ISO (declare it in ${relative(config.root, config.packagesFile)})`,
  );
}

/** The definition and every file its layers read: a change to any of them rebuilds the image. */
function specInputs(spec: BuildSpec): string[] {
  const files = [spec.file];
  for (const layer of spec.layers) {
    if (layer.directory) files.push(...listFiles(layer.directory).map((file) => join(layer.directory!, file)));
    for (const file of layer.files ?? []) files.push(file.from);
    files.push(...(layer.rpms ?? []));
  }
  return files;
}

/** As upstream, with DOCKER_BIN, unless the same inputs were built before (buildchain/oci/dockerfile.ts). */
function dockerBuild({ config, store }: BuildContext, image: LocalImage, dir: string, labels: Record<string, string>) {
  return async (ctx: { log(message: string): void; signal: AbortSignal }) => {
    const built = await buildOrRecall(
      { ...image, labels },
      {
        record: builtRecordFile(config.buildRoot, image.name),
        docker: () => requireExecutable(config.bin.docker, `DOCKER_BIN (needed for ${image.definition})`),
        skopeo: () =>
          requireExecutable(
            config.bin.skopeo,
            `SKOPEO_BIN (turns the image built from ${image.definition} into a dir: layout)`,
          ),
        tagPrefix: `${config.projectName.toLowerCase()}/${image.name}`,
        mirrors: config.registryMirrors,
        store,
        signal: ctx.signal,
        log: (message) => ctx.log(message),
      },
    );
    await writeDirLayout(store, built, dir);
  };
}
