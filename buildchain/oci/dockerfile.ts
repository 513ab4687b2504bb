// Images built from a Dockerfile by DOCKER_BIN (docker, podman or buildah), as upstream builds
// the ones that must run commands inside the image (pip install). The tool's image is saved as a
// docker-archive, turned into a dir: layout by skopeo, and taken into the shared store, each file
// checked against its digest: its layout is then hard links like every other image's. A record
// of which inputs gave which manifest (BUILD_ROOT/built-images/<name>.json) lets a later build,
// or an air-gapped one given the record and the blobs, lay the image out again without the tool.
import { createReadStream, existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BuildError } from '../errors.ts';
import { tempPathFor, writeFileAtomic } from '../fs/atomic.ts';
import { parseJsonText, readTextFile } from '../json-file.ts';
import { listFiles } from '../fs/walk.ts';
import { runTool } from '../tools.ts';
import { sha256Digest } from './digest.ts';
import { storedImage, type PulledImage } from './pull.ts';
import type { BlobStore } from './store.ts';

export interface DockerfileImage {
  name: string;
  version: string;
  /** The Dockerfile; its directory is the build context. */
  definition: string;
  buildArgs: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
}

/** Which inputs gave which image: the build's memory of a Dockerfile image. */
export interface BuiltRecord {
  inputs: string;
  manifest: string;
}

export function builtRecordFile(buildRoot: string, image: string): string {
  return join(buildRoot, 'built-images', `${image}.json`);
}

/** What the image is built from: every file of the context, the build arguments and the labels. */
export function dockerfileInputs(image: DockerfileImage): string {
  const context = join(image.definition, '..');
  return sha256Digest(JSON.stringify({
    definition: basename(image.definition),
    files: listFiles(context).map((file) => [file, sha256Digest(readFileSync(join(context, file)))]),
    buildArgs: image.buildArgs, labels: image.labels, version: image.version,
  }));
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
  /** Names the image in the tool's own store. */
  tag: string;
  store: BlobStore;
  signal: AbortSignal;
  log: (message: string) => void;
}

/** Builds the image with the tool and takes it into the store; what it is there. */
export async function buildWithDocker(image: DockerfileImage, options: DockerBuildOptions): Promise<PulledImage> {
  const { docker, skopeo, tag, store, signal } = options;
  const run = async (file: string, args: string[]) => {
    const said = await runTool(file, args, { signal, what: `${basename(file)} ${args.slice(0, 2).join(' ')} for ${image.name}` });
    if (said) options.log(said.trimEnd());
  };
  const flags = (flag: string, values: Readonly<Record<string, string>>) => Object.entries(values).flatMap(([key, value]) => [flag, `${key}=${value}`]);
  await run(docker, ['build', '--tag', tag, '--file', image.definition, ...flags('--build-arg', image.buildArgs), ...flags('--label', image.labels), join(image.definition, '..')]);
  // Beside the store, on its file system: the archive and the layout are as large as the image.
  const scratch = tempPathFor(join(store.root, 'ingest', 'dockerfile'));
  const archive = join(scratch, 'image.tar');
  const layout = join(scratch, 'layout');
  await mkdir(scratch, { recursive: true });
  try {
    // podman takes docker's arguments; buildah writes archives with `push`.
    await run(docker, basename(docker) === 'buildah' ? ['push', tag, `docker-archive:${archive}`] : ['save', '--output', archive, tag]);
    await run(skopeo, ['--insecure-policy', 'copy', '--format', 'v2s2', `docker-archive:${archive}`, `dir:${layout}`]);
    const manifest = sha256Digest(readFileSync(join(layout, 'manifest.json')));
    const files = [
      { path: join(layout, 'manifest.json'), digest: manifest },
      ...readdirSync(layout).filter((name) => /^[a-f0-9]{64}$/.test(name)).map((name) => ({ path: join(layout, name), digest: `sha256:${name}` })),
    ];
    for (const { path, digest } of files) {
      await store.ingest(digest, async (start) => ({ body: createReadStream(path, { start }), start }), { describe: `${path} (${image.name}, written by skopeo)` });
    }
    const stored = await storedImage(store, manifest);
    if (!stored) throw new BuildError(`${image.definition}: the image ${tag} that ${basename(docker)} built lacks blobs its manifest names`);
    return stored;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export async function writeBuiltRecord(file: string, record: BuiltRecord): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
}
