// Solution ISOs from a source tree: product.txt (NAME, VERSION, REQUIRE_METALK8S), images laid
// out under images/<name>/<tag>/ (copied, identical blobs stored once) or declared in images.yaml
// (pulled), operator/ and ui/ manifests. Written as MetalK8s reads Solutions: product.txt with
// the archive layout version, registry-config.inc.j2 for the node's repository name and mount
// point, volume id `<NAME> <VERSION>`; then checked against the guidelines before it is kept.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { buildTimestamp } from '../../buildchain/timestamp.ts';
import { BuildError } from '../../buildchain/errors.ts';
import { linkAtomic, writeFileAtomic } from '../../buildchain/fs/atomic.ts';
import { listFiles } from '../../buildchain/fs/walk.ts';
import { writeIso } from '../../buildchain/iso9660/writer.ts';
import { imageDir, loadImageDeclarations, pinnedSource } from '../../buildchain/oci/declarations.ts';
import { writeDirLayout } from '../../buildchain/oci/layout.ts';
import type { ImagePuller } from '../../buildchain/oci/puller.ts';
import { findImages, registryConfigFor } from '../../static-registry/index.ts';
import { formatProduct, parseProduct } from './product.ts';
import { validateSolution } from './validate.ts';
import { generatedLine } from '../../buildchain/generated.ts';

export interface SolutionBuildOptions {
  sourceDateEpoch?: number | undefined;
  /** `git describe` of the source, for product.txt's GIT. */
  gitRef?: string | undefined;
  /** Needed when the source declares images in images.yaml. */
  puller?: ImagePuller;
  /** Written in the tag of the generated registry configuration. */
  toolkitVersion: string;
  signal: AbortSignal;
}

/** The one archive layout this toolkit writes and reads. */
export const ARCHIVE_LAYOUT_VERSION = '1';

export async function buildSolution(
  source: string,
  output: string,
  options: SolutionBuildOptions,
): Promise<{ name: string; version: string; sha256: string }> {
  const productFile = join(source, 'product.txt');
  if (!existsSync(productFile)) throw new BuildError(`${productFile}: missing (NAME, VERSION, REQUIRE_METALK8S)`);
  const declared = parseProduct(readFileSync(productFile, 'utf8'));
  const field = (key: string) => {
    const value = declared.get(key);
    if (!value) throw new BuildError(`${productFile}: ${key} is missing`);
    return value;
  };
  const [name, version, required] = [field('NAME'), field('VERSION'), field('REQUIRE_METALK8S')];
  // The layout written below is version 1: a source asking for another one would get an archive
  // that does not say what it claims.
  const layout = declared.get('ARCHIVE_LAYOUT_VERSION');
  if (layout !== undefined && layout !== ARCHIVE_LAYOUT_VERSION) {
    throw new BuildError(
      `${productFile}: ARCHIVE_LAYOUT_VERSION=${layout}, but solution build writes layout version ${ARCHIVE_LAYOUT_VERSION}`,
    );
  }
  const staging = join(dirname(output), `.${basename(output)}.staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    // Manifests, copied as they are.
    for (const tree of ['operator', 'ui']) {
      if (!existsSync(join(source, tree))) continue;
      for (const file of listFiles(join(source, tree)))
        await linkAtomic(join(source, tree, file), join(staging, tree, file));
    }
    // Images laid out in the source: each distinct blob once, every other name a hard link to it.
    const images = join(staging, 'images');
    await mkdir(images, { recursive: true });
    if (existsSync(join(source, 'images'))) {
      const first = new Map<string, string>();
      for (const image of findImages(join(source, 'images'))) {
        for (const file of listFiles(image.layout.dir)) {
          const target = join(images, image.name, image.tag, file);
          const known = /^[0-9a-f]{64}$/.test(file) ? first.get(file) : undefined;
          await linkAtomic(known ?? join(image.layout.dir, file), target);
          if (/^[0-9a-f]{64}$/.test(file) && !known) first.set(file, target);
        }
      }
    }
    // Images declared by digest: pulled into the store, laid out from it (hard links).
    const declarations = join(source, 'images.yaml');
    if (existsSync(declarations)) {
      if (!options.puller) throw new BuildError(`${declarations}: declares images to pull, but no puller was given`);
      const { remote, platform, lockFile } = loadImageDeclarations(declarations);
      for (const image of remote) {
        const pulled = await options.puller.pull(pinnedSource(image, lockFile), {
          describe: `${image.name} ${image.version}`,
          platform,
          signal: options.signal,
        });
        await writeDirLayout(options.puller.options.store, pulled, imageDir(images, image));
      }
    }
    await writeFileAtomic(
      join(staging, 'registry-config.inc.j2'),
      generatedLine('MetalK8s toolkit', options.toolkitVersion, 'solution build') +
        registryConfigFor(images, {
          namePrefix: '{{ repository }}',
          serverRoot: '{{ registry_root }}',
          constants: 'omit',
        }),
    );
    await writeFileAtomic(
      join(staging, 'product.txt'),
      formatProduct([
        ['NAME', name],
        ['VERSION', version],
        ['REQUIRE_METALK8S', required],
        ['ARCHIVE_LAYOUT_VERSION', ARCHIVE_LAYOUT_VERSION],
        ['GIT', options.gitRef ?? declared.get('GIT') ?? ''],
        ['BUILD_TIMESTAMP', buildTimestamp(options.sourceDateEpoch)],
      ]),
    );
    const volumeId = `${name} ${version}`;
    const { sha256 } = await writeIso(staging, output, {
      volumeId,
      ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
    });
    const { violations } = await validateSolution(output);
    if (violations.length > 0) {
      await rm(output, { force: true });
      throw new BuildError(
        `${source}: the Solution does not follow the archive guidelines:\n${violations.map((v) => `  ${v.path}: ${v.rule}`).join('\n')}`,
      );
    }
    return { name, version, sha256 };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
