// Recording the digests of images declared by tag only (images.lock.yaml): each tag the lock lacks
// is asked of its registry once, and the answer kept; asked again (`every`), a tag whose digest
// moved away from the lock's is an error, never a silent re-pin.
import { BuildError } from '../errors.ts';
import { lockEntryOf, type ImageDeclarations, type RemoteImage } from './declarations.ts';
import { writeTagLock, type TagLockEntry } from './tag-lock-file.ts';
import type { ImagePuller } from './puller.ts';

export interface LockTagsOptions {
  /** Ask every tag-only image, locked ones included (`./build.ts image_lock`); else only those the lock lacks. */
  every: boolean;
  signal: AbortSignal;
}

/** The images of `declarations` declared by tag only (locked or not). */
export function tagOnlyImages(declarations: ImageDeclarations): RemoteImage[] {
  return declarations.remote.filter((image) => image.pin !== 'declared');
}

/**
 * Asks the registries, then writes the lock with one entry per tag-only image (stale entries
 * dropped). Answers the entries recorded for the first time.
 */
export async function lockTags(
  puller: ImagePuller,
  declarations: ImageDeclarations,
  options: LockTagsOptions,
): Promise<TagLockEntry[]> {
  const images = tagOnlyImages(declarations);
  const asked = images.filter((image) => options.every || image.pin === 'tag');
  const served = new Map(
    await Promise.all(
      asked.map(
        async (image) =>
          [
            image.name,
            await puller.resolveTag(image.source, `${image.name} ${image.version}`, options.signal),
          ] as const,
      ),
    ),
  );
  for (const image of asked) {
    const digest = served.get(image.name)!;
    if (image.pin === 'locked' && digest !== image.source.digest)
      throw lockDisagrees(image, declarations.lockFile, digest);
  }
  const entries = images.map((image) => lockEntryOf(image, served.get(image.name) ?? image.source.digest!));
  await writeTagLock(declarations.lockFile, entries);
  return entries.filter((entry) => images.find((image) => image.name === entry.name)!.pin === 'tag');
}

/** A locked image whose tag the registry now serves as another manifest. */
export function lockDisagrees(image: RemoteImage, lockFile: string, served: string): BuildError {
  return new BuildError(
    `${lockFile}: ${image.name} ${image.version} is locked to ${image.source.digest}, but ${image.source.registry}/${image.source.repository}:${image.version} is now ${served}; ` +
      'if the tag was moved on purpose, delete its entry and run ./build.ts image_lock',
  );
}
