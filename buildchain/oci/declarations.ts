// The image declarations file (images/images.yaml): what the ISO ships, edited by release
// engineers. Remote images are pinned by digest; local images point at a build definition
// (image.yaml for the daemonless builder, or a Dockerfile for DOCKER_BIN).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { declarationReader, isRecord, readYamlFile } from '../yaml-file.ts';
import { parseDigest } from './digest.ts';
import type { Platform } from './media-types.ts';
import { DEFAULT_PLATFORM, parsePlatform } from './pull.ts';
import { parseReference, type ImageReference } from './reference.ts';

export interface RemoteImage {
  /** Directory name in the ISO: images/<name>/<version>/. */
  name: string;
  version: string;
  source: ImageReference & { digest: string };
  /**
   * Saved as one archive, images/<name>-<version>.tar, instead of a layout: what nodes import
   * into containerd before any registry runs (upstream's SAVE_AS_TAR: nginx, pause).
   */
  archive: boolean;
}

export interface LocalImage {
  name: string;
  version: string;
  /** images/<name>/image.yaml (daemonless) or images/<name>/Dockerfile. */
  definition: string;
  kind: 'spec' | 'dockerfile';
  buildArgs: Record<string, string>;
}

export interface ImageDeclarations {
  file: string;
  platform: Platform;
  remote: RemoteImage[];
  local: LocalImage[];
}

const NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export function loadImageDeclarations(file: string): ImageDeclarations {
  const doc = readYamlFile(file, 'IMAGES_FILE');
  if (!isRecord(doc)) throw new BuildError(`${file}: expected a mapping with "remote" and "local" lists`);
  const read = declarationReader(file, doc);
  const field = read.string.bind(read);
  const identity = read.unique.bind(read);
  const list = (key: string) => read.list(key);
  const remote = list('remote').map((entry, index): RemoteImage => {
    const where = `remote[${index}]${typeof entry.name === 'string' ? ` (${entry.name})` : ''}`;
    const name = field(entry, 'name', where);
    if (!NAME.test(name)) throw new BuildError(`${file}: ${where}.name "${name}" must be lowercase letters, digits and . _ -`);
    identity(name, where);
    const version = field(entry, 'version', where);
    const ref = parseReference(field(entry, 'image', where), `${file}: ${where}.image`);
    if (ref.digest || ref.tag) throw new BuildError(`${file}: ${where}.image "${field(entry, 'image', where)}" must name the repository only; put the tag in "version" and the digest in "digest"`);
    if (entry.digest === undefined) throw new BuildError(`${file}: ${where}.digest is missing: remote images are pulled by digest only`);
    const digest = parseDigest(entry.digest, `${file}: ${where}.digest`);
    const archive = entry.archive ?? false;
    if (typeof archive !== 'boolean') throw new BuildError(`${file}: ${where}.archive must be true or false`);
    return { name, version, source: { ...ref, tag: version, digest }, archive };
  });
  const local = list('local').map((entry, index): LocalImage => {
    const where = `local[${index}]${typeof entry.name === 'string' ? ` (${entry.name})` : ''}`;
    const name = field(entry, 'name', where);
    if (!NAME.test(name)) throw new BuildError(`${file}: ${where}.name "${name}" must be lowercase letters, digits and . _ -`);
    identity(name, where);
    const definition = resolve(dirname(file), field(entry, 'definition', where));
    if (!existsSync(definition)) throw new BuildError(`${file}: ${where}.definition: ${definition} does not exist`);
    const kind = definition.endsWith('Dockerfile') ? 'dockerfile' : 'spec';
    const args = entry.build_args ?? {};
    if (!isRecord(args)) throw new BuildError(`${file}: ${where}.build_args must be a mapping`);
    return {
      name, version: field(entry, 'version', where), definition, kind,
      buildArgs: Object.fromEntries(Object.entries(args).map(([key, value]) => [key, String(value)])),
    };
  });
  return {
    file,
    platform: doc.platform === undefined ? DEFAULT_PLATFORM : parsePlatform(String(doc.platform), `${file}: platform`),
    remote, local,
  };
}

/** Where an image is laid out in the ISO tree. */
export function imageDir(imagesRoot: string, image: { name: string; version: string }): string {
  return join(imagesRoot, image.name, image.version);
}

/** Where an image saved as an archive lands in the ISO tree. */
export function imageArchive(imagesRoot: string, image: { name: string; version: string }): string {
  return join(imagesRoot, `${image.name}-${image.version}.tar`);
}

/** The labels a local image gets from the build: its version and the source revision it was built from. */
export function buildLabels(image: { version: string }, revision: string | undefined): Record<string, string> {
  return {
    'org.opencontainers.image.version': image.version,
    'org.opencontainers.image.revision': revision ?? 'unknown',
  };
}
