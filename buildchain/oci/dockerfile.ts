// Images built from a Dockerfile by DOCKER_BIN (docker, podman or buildah), as upstream builds
// the ones that must run commands inside the image (pip install). The tool's image is saved as a
// docker-archive, turned into a dir: layout by skopeo, and taken into the shared store, each file
// checked against its digest: its layout is then hard links like every other image's. A record
// of which inputs gave which manifest (BUILD_ROOT/built-images/<name>.json) lets a later build,
// or an air-gapped one given the record and the blobs, lay the image out again without the tool.
import { createReadStream, existsSync, readFileSync, readdirSync } from 'node:fs';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { BuildError } from '../errors.ts';
import { tempPathFor, writeFileAtomic } from '../fs/atomic.ts';
import { parseJsonText, readTextFile } from '../json-file.ts';
import { listFiles } from '../fs/walk.ts';
import { runTool } from '../tools.ts';
import { digestHex, hexDigest, sha256Digest } from '../store/sha256.ts';
import { storedImage, type PulledImage } from './pull.ts';
import type { CompileStep } from './declarations.ts';
import { resolveEndpoint } from './registry.ts';
import type { BlobStore } from '../store/blob-store.ts';

export interface DockerfileImage {
  name: string;
  version: string;
  /** The Dockerfile. */
  definition: string;
  /** The build context: a folder holding the Dockerfile, or above it. */
  context: string;
  buildArgs: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  compile?: CompileStep;
}

/** Which inputs gave which image: the build's memory of a Dockerfile image. */
export interface BuiltRecord {
  inputs: string;
  manifest: string;
}

export function builtRecordFile(buildRoot: string, image: string): string {
  return join(buildRoot, 'built-images', `${image}.json`);
}

/** What the image is built from: every file of the context, the build arguments, the labels and the compile step. */
export function dockerfileInputs(image: DockerfileImage): string {
  const { context, compile } = image;
  const hashed = (file: string) => [relative(context, file), sha256Digest(readFileSync(file))];
  return sha256Digest(
    JSON.stringify({
      definition: relative(context, image.definition),
      files: listFiles(context).map((file) => hashed(join(context, file))),
      buildArgs: image.buildArgs,
      labels: image.labels,
      version: image.version,
      ...(compile ? { compile: { ...compile, builder: hashed(compile.builder) } } : {}),
    }),
  );
}

export function readBuiltRecord(file: string): BuiltRecord | undefined {
  return existsSync(file) ? parseBuiltRecord(readTextFile(file), file) : undefined;
}

/** A record from its text; errors name `file`. */
export function parseBuiltRecord(text: string, file: string): BuiltRecord {
  const record = parseJsonText<BuiltRecord>(text, file, 'a built-image record');
  if (!/^sha256:[a-f0-9]{64}$/.test(String(record.inputs)) || !/^sha256:[a-f0-9]{64}$/.test(String(record.manifest))) {
    throw new BuildError(`${file}: not a built-image record (inputs and manifest, sha256 digests)`);
  }
  return record;
}

/** The image an earlier build made from these same inputs, when the store still holds all of it. */
export async function recordedImage(store: BlobStore, file: string, inputs: string): Promise<PulledImage | undefined> {
  const record = readBuiltRecord(file);
  return record?.inputs === inputs ? storedImage(store, record.manifest) : undefined;
}

export interface DockerBuildOptions {
  docker: string;
  skopeo: string;
  /** REGISTRY_MIRRORS: where the tool pulls the Dockerfile's base images from (podman, buildah). */
  mirrors: ReadonlyMap<string, string>;
  /** Names the image in the tool's own store. */
  tag: string;
  store: BlobStore;
  signal: AbortSignal;
  log: (message: string) => void;
}

/** Builds the image with the tool and takes it into the store; what it is there. */
export async function buildWithDocker(image: DockerfileImage, options: DockerBuildOptions): Promise<PulledImage> {
  const { docker, skopeo, tag, store, signal } = options;
  // Beside the store, on its file system: the archive and the layout are as large as the image.
  const scratch = tempPathFor(join(store.root, 'ingest', 'dockerfile'));
  const registries = join(scratch, 'registries.conf');
  const env = { ...process.env, CONTAINERS_REGISTRIES_CONF: registries };
  const run = async (file: string, args: string[]) => {
    const said = await runTool(file, args, {
      signal,
      what: `${basename(file)} ${args.slice(0, 2).join(' ')} for ${image.name}`,
      env,
    });
    if (said) options.log(said.trimEnd());
  };
  const flags = (flag: string, values: Readonly<Record<string, string>>) =>
    Object.entries(values).flatMap(([key, value]) => [flag, `${key}=${value}`]);
  // A base image the registry has under the same tag replaces an older local copy (podman, buildah;
  // the local one serves when the registry cannot be reached).
  const pull = basename(docker) === 'docker' ? [] : ['--pull=newer'];
  const archive = join(scratch, 'image.tar');
  const layout = join(scratch, 'layout');
  await mkdir(scratch, { recursive: true });
  try {
    await writeFile(registries, containersRegistries(options.mirrors));
    let { context, definition } = image;
    if (image.compile) {
      // Compiled on a copy: the product's unpacked tree stays as fetched.
      const copy = join(scratch, 'context');
      await cp(context, copy, { recursive: true, verbatimSymlinks: true });
      await compileInBuilder(image.compile, copy, `${tag}-builder`, (args) => run(docker, args), pull);
      definition = join(copy, relative(context, definition));
      context = copy;
    }
    await run(docker, [
      'build',
      ...pull,
      '--tag',
      tag,
      '--file',
      definition,
      ...flags('--build-arg', image.buildArgs),
      ...flags('--label', image.labels),
      context,
    ]);
    // podman takes docker's arguments; buildah writes archives with `push`.
    await run(
      docker,
      basename(docker) === 'buildah' ? ['push', tag, `docker-archive:${archive}`] : ['save', '--output', archive, tag],
    );
    await run(skopeo, ['--insecure-policy', 'copy', '--format', 'v2s2', `docker-archive:${archive}`, `dir:${layout}`]);
    const manifest = sha256Digest(readFileSync(join(layout, 'manifest.json')));
    const files = [
      { path: join(layout, 'manifest.json'), digest: manifest },
      ...readdirSync(layout)
        .filter((name) => /^[a-f0-9]{64}$/.test(name))
        .map((name) => ({ path: join(layout, name), digest: hexDigest(name) })),
    ];
    for (const { path, digest } of files) {
      await store.ingest(digest, async (start) => ({ body: createReadStream(path, { start }), start }), {
        describe: `${path} (${image.name}, written by skopeo)`,
      });
    }
    const stored = await storedImage(store, manifest);
    if (!stored)
      throw new BuildError(
        `${image.definition}: the image ${tag} that ${basename(docker)} built lacks blobs its manifest names`,
      );
    return stored;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * containers-registries.conf(5) for podman and buildah: short names (`FROM node:10`) are Docker
 * Hub's, as for docker, and each registry of REGISTRY_MIRRORS is pulled from its mirror, so that
 * a Dockerfile's base images come from the same places as every other image of the build.
 */
export function containersRegistries(mirrors: ReadonlyMap<string, string>): string {
  const lines = ['unqualified-search-registries = ["docker.io"]', 'short-name-mode = "permissive"', ''];
  for (const registry of [...mirrors.keys()].sort()) {
    const { origin } = resolveEndpoint(registry, mirrors);
    lines.push(
      '[[registry]]',
      `prefix = ${JSON.stringify(registry)}`,
      `location = ${JSON.stringify(new URL(origin).host)}`,
      `insecure = ${origin.startsWith('http://')}`,
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Builds the builder image, then runs the compile command in it on `context` as one more build
 * (a RUN step needs no daemon, unlike `run`), whose result is copied out into `context/<output>`.
 */
async function compileInBuilder(
  step: CompileStep,
  context: string,
  builderTag: string,
  build: (args: string[]) => Promise<void>,
  pull: string[],
): Promise<void> {
  await build([
    'build',
    ...pull,
    '--tag',
    builderTag,
    ...(step.from ? ['--from', step.from] : []),
    '--file',
    step.builder,
    dirname(step.builder),
  ]);
  const containerfile = join(context, '..', 'Containerfile.compile');
  await writeFile(
    containerfile,
    [
      `FROM ${builderTag} AS compile`,
      'COPY . /src',
      'WORKDIR /src',
      `RUN ${JSON.stringify(step.command)}`,
      'FROM scratch',
      `COPY --from=compile /src/${step.output} /`,
      '',
    ].join('\n'),
  );
  await build(['build', '--file', containerfile, '--output', `type=local,dest=${join(context, step.output)}`, context]);
}

export async function writeBuiltRecord(file: string, record: BuiltRecord): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
}

export interface RecallOptions extends Omit<DockerBuildOptions, 'docker' | 'skopeo' | 'tag'> {
  /** BUILD_ROOT/built-images/<name>.json. */
  record: string;
  /** The tools, looked up only when a build is needed (an air-gapped farm has none). */
  docker: () => string;
  skopeo: () => string;
  /** `<project>/<name>`: the tag adds the version and the inputs' digest. */
  tagPrefix: string;
}

/**
 * The image these inputs gave before, when the record says so and the store holds all of it;
 * else built with the tool (and recorded). Tagged by its inputs too: builds of other inputs
 * (another BUILD_ROOT, a test beside this one) share the tool's image store and must not take
 * each other's image by its tag.
 */
export async function buildOrRecall(image: DockerfileImage, options: RecallOptions): Promise<PulledImage> {
  const inputs = dockerfileInputs(image);
  const recalled = await recordedImage(options.store, options.record, inputs);
  if (recalled) {
    options.log(`${image.name}: ${recalled.top.digest}, built before from the same inputs (${options.record})`);
    return recalled;
  }
  const built = await buildWithDocker(image, {
    ...options,
    docker: options.docker(),
    skopeo: options.skopeo(),
    tag: `${options.tagPrefix}:${image.version}-${digestHex(inputs).slice(0, 12)}`,
  });
  await writeBuiltRecord(options.record, { inputs, manifest: built.top.digest });
  options.log(`${image.name}: ${built.top.digest}`);
  return built;
}
