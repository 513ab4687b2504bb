// The image declarations file (images/images.yaml): what the ISO ships, edited by release
// engineers. Remote images are pinned by digest: declared, or, for an image declared by tag only,
// the one its lock (images.lock.yaml, tag-lock-file.ts) recorded; local images point at a build
// definition (image.yaml for the daemonless builder, or a Dockerfile for DOCKER_BIN).
import { existsSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { renderTemplate } from '../fs/template.ts';
import { readDeclarations } from '../schema/yaml.ts';
import { uniqueNames } from '../yaml-file.ts';
import validateImages from './images.validate.cjs';
import type { Platform } from './media-types.ts';
import { DEFAULT_PLATFORM, parsePlatform } from './pull.ts';
import { parseReference, type ImageReference } from './reference.ts';
import { tagLockFile, lockKey, readTagLock, type TagLockEntry } from './tag-lock-file.ts';

export interface RemoteImage {
  /** Directory name in the ISO: images/<name>/<version>/. */
  name: string;
  version: string;
  /** The tag is the version; the digest is the declared one, else the lock's, else unknown yet. */
  source: ImageReference & { tag: string; digest?: string };
  /** Where the digest comes from: images.yaml, its lock, or nowhere yet (declared by tag, not locked). */
  pin: 'declared' | 'locked' | 'tag';
  /**
   * Saved as one archive, <dir>/<name>-<version>.tar, instead of a layout: what nodes import
   * into containerd before any registry runs (upstream's SAVE_AS_TAR: nginx, pause). The folder
   * of the ISO it goes in (`images`, or upstream's place for pause in the Salt tree), or false.
   */
  archive: string | false;
}

export interface LocalImage {
  name: string;
  version: string;
  /** images/<name>/image.yaml (daemonless) or images/<name>/Dockerfile, or a Dockerfile of the product source. */
  definition: string;
  kind: 'spec' | 'dockerfile';
  buildArgs: Record<string, string>;
  /** The build context of a Dockerfile: its folder unless declared. */
  context: string;
  /** A program compiled in a builder image before the Dockerfile build (the storage operator). */
  compile?: CompileStep;
  /** Declared as `product:<path>`: built from the product source. */
  fromProduct: boolean;
}

/**
 * operator-sdk's build, without a daemon socket: `command` runs in the builder image (built from
 * `builder`, whose first FROM is replaced by `from` when given) on a copy of the context, and
 * `output` (a folder of the context) is kept for the Dockerfile build that follows.
 */
export interface CompileStep {
  builder: string;
  from?: string;
  command: string[];
  output: string;
}

export interface DeclarationOptions {
  /** Where the product source is unpacked: `product:` paths resolve there; without it, those images are left out. */
  productTree?: string;
  /**
   * The values of `@@NAME` in local images' versions (`version: "@@VERSION"`, the product's own
   * images). Asked on each read of such a version, never on load: a value may be known only once
   * the product source is unpacked, after the list is first read (the remote images need none).
   */
  versionValues?: () => Readonly<Record<string, string>>;
}

/** A tag as registries accept it, which is also a folder name of the ISO. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export interface ImageDeclarations {
  file: string;
  /** images.lock.yaml beside `file`: the digests of images declared by tag only. */
  lockFile: string;
  platform: Platform;
  remote: RemoteImage[];
  local: LocalImage[];
}

/** images.yaml's shape: what the loader reads once the schema has checked it. */
interface ImagesFile {
  platform?: string;
  remote?: { name: string; image: string; version: string; digest?: string; archive?: boolean | string }[];
  local?: {
    name: string;
    version: string;
    definition: string;
    build_args?: Record<string, string>;
    context?: string;
    compile?: { builder: string; from?: string; command: string[]; output: string };
  }[];
}

/** Paths in the product source (METALK8S_SOURCE) start with this. */
const PRODUCT = 'product:';

/**
 * The declarations of `file`. Their shape is images.schema.json's to check; what a schema cannot
 * say is checked here: names are unique, references parse, paths exist or stay in the product source.
 */
export function loadImageDeclarations(file: string, options: DeclarationOptions = {}): ImageDeclarations {
  const doc = readDeclarations(file, validateImages, 'IMAGES_FILE') as ImagesFile;
  const unique = uniqueNames(file);
  const label = (key: string, index: number, name: string) => `${key}[${index}] (${name})`;
  const lockFile = tagLockFile(file);
  let lock: Map<string, TagLockEntry> | undefined;
  const remote = (doc.remote ?? []).map((entry, index): RemoteImage => {
    const where = label('remote', index, entry.name);
    unique(entry.name, where);
    const ref = parseReference(entry.image, `${file}: ${where}.image`);
    if (ref.digest || ref.tag)
      throw new BuildError(
        `${file}: ${where}.image "${entry.image}" must name the repository only; put the tag in "version" and the digest in "digest"`,
      );
    // Declared by tag only: pulled by the digest the lock recorded for that tag. A declared
    // digest wins over a lock entry, which is then unused (and dropped when the lock is written).
    let digest = entry.digest;
    let pin: RemoteImage['pin'] = 'declared';
    if (digest === undefined) {
      lock ??= readTagLock(lockFile);
      digest = lock.get(
        lockKey({ name: entry.name, image: `${ref.registry}/${ref.repository}`, version: entry.version }),
      )?.digest;
      pin = digest ? 'locked' : 'tag';
    }
    const archive = entry.archive === true ? 'images' : (entry.archive ?? false);
    return {
      name: entry.name,
      version: entry.version,
      source: { ...ref, tag: entry.version, ...(digest ? { digest } : {}) },
      pin,
      archive,
    };
  });
  const local = (doc.local ?? []).flatMap((entry, index): LocalImage[] => {
    const where = label('local', index, entry.name);
    unique(entry.name, where);
    const fromProduct = entry.definition.startsWith(PRODUCT);
    if (fromProduct && !options.productTree) return []; // METALK8S_SOURCE=none: not built
    // A path of the project (beside this file) or of the product source, which may be unpacked later.
    const path = (key: string, value: string) => {
      if (!value.startsWith(PRODUCT)) return resolve(dirname(file), value);
      const inProduct = posix.normalize(value.slice(PRODUCT.length));
      if (inProduct.startsWith('..') || posix.isAbsolute(inProduct))
        throw new BuildError(`${file}: ${where}.${key}: ${value} leaves the product source`);
      if (!fromProduct)
        throw new BuildError(
          `${file}: ${where}.${key}: ${value}: only an image whose definition is in the product source may use product: paths`,
        );
      return join(options.productTree!, inProduct);
    };
    const definition = path('definition', entry.definition);
    if (!fromProduct && !existsSync(definition))
      throw new BuildError(`${file}: ${where}.definition: ${definition} does not exist`);
    const kind = definition.endsWith('Dockerfile') ? 'dockerfile' : 'spec';
    if (kind === 'spec' && (entry.context !== undefined || entry.compile !== undefined))
      throw new BuildError(`${file}: ${where}: context and compile are for Dockerfile images`);
    let compile: CompileStep | undefined;
    if (entry.compile !== undefined) {
      const step = entry.compile;
      const output = posix.normalize(step.output);
      if (output.startsWith('..') || posix.isAbsolute(output))
        throw new BuildError(`${file}: ${where}.compile.output must be a folder of the context, not ${output}`);
      if (step.from !== undefined) parseReference(step.from, `${file}: ${where}.compile.from`);
      compile = {
        builder: path('compile.builder', step.builder),
        command: step.command,
        output,
        ...(step.from !== undefined ? { from: step.from } : {}),
      };
    }
    const image: LocalImage = {
      name: entry.name,
      version: entry.version,
      definition,
      kind,
      fromProduct,
      buildArgs: { ...entry.build_args },
      context: entry.context === undefined ? dirname(definition) : path('context', entry.context),
      ...(compile ? { compile } : {}),
    };
    const declaredVersion = entry.version;
    if (declaredVersion.includes('@@')) {
      const { versionValues } = options;
      Object.defineProperty(image, 'version', {
        enumerable: true,
        get: () => {
          if (!versionValues)
            throw new BuildError(
              `${file}: ${where}.version "${declaredVersion}": @@ names are for a build's IMAGES_FILE, whose values it knows`,
            );
          const version = renderTemplate(declaredVersion, versionValues(), `${file}: ${where}.version`);
          if (!TAG.test(version))
            throw new BuildError(`${file}: ${where}.version "${declaredVersion}" gives "${version}", not an image tag`);
          return version;
        },
      });
    }
    return [image];
  });
  return {
    file,
    lockFile,
    platform: doc.platform === undefined ? DEFAULT_PLATFORM : parsePlatform(doc.platform, `${file}: platform`),
    remote,
    local,
  };
}

/**
 * The image's reference by digest; an image declared by tag only that its lock lacks is an error
 * naming it, the lock, and how to record it.
 */
export function pinnedSource(image: RemoteImage, lockFile: string): ImageReference & { digest: string } {
  const { digest } = image.source;
  if (digest) return { ...image.source, digest };
  throw new BuildError(
    `${image.name} ${image.version} (${image.source.registry}/${image.source.repository}) is declared by tag only and ${lockFile} has no digest for it: ` +
      'build with its registry reachable (REGISTRY_MIRRORS) to record it, or run ./build.ts image_lock',
    [`REGISTRY_MIRRORS=${image.source.registry}=<mirror host:port>`],
  );
}

/** The lock entry of an image declared by tag only, once its digest is known. */
export function lockEntryOf(image: RemoteImage, digest: string): TagLockEntry {
  return {
    name: image.name,
    image: `${image.source.registry}/${image.source.repository}`,
    version: image.version,
    digest,
  };
}

/** Where an image is laid out in the ISO tree. */
export function imageDir(imagesRoot: string, image: { name: string; version: string }): string {
  return join(imagesRoot, image.name, image.version);
}

/** A build's declarations: its IMAGES_FILE, with the images of its product source when it has one. */
export function declaredImages(build: {
  imagesFile: string;
  product: { tree: string } | undefined;
  templateValues(): Readonly<Record<string, string>>;
}): ImageDeclarations {
  return loadImageDeclarations(build.imagesFile, {
    productTree: build.product?.tree,
    versionValues: () => build.templateValues(),
  });
}

/** Where a remote image lands in the ISO tree: its archive, or its layout under images/. */
export function remoteImagePlace(isoRoot: string, image: RemoteImage): string {
  return image.archive
    ? join(isoRoot, image.archive, `${image.name}-${image.version}.tar`)
    : imageDir(join(isoRoot, 'images'), image);
}

/** The labels a local image gets from the build: its version and the source revision it was built from. */
export function buildLabels(image: { version: string }, revision: string | undefined): Record<string, string> {
  return {
    'org.opencontainers.image.version': image.version,
    'org.opencontainers.image.revision': revision ?? 'unknown',
  };
}
