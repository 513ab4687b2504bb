// Atomic file creation: write under a temporary name in the target's own directory,
// then rename. A reader (or a build killed with -9) never sees a half-written target.
import { copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let counter = 0;

/** A unique temporary sibling of `target`; same directory, so rename() is atomic. */
export function tempPathFor(target: string): string {
  counter += 1;
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${counter}`);
}

/**
 * Runs `produce(tmp)`, which must create the file at `tmp`, then moves it to `target`.
 * On any failure the temporary file is removed and `target` is left as it was.
 */
export async function withAtomicFile<T>(target: string, produce: (tmp: string) => Promise<T>): Promise<T> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    const result = await produce(tmp);
    await rename(tmp, target);
    return result;
  } catch (error) {
    await rm(tmp, { force: true, recursive: true });
    throw error;
  }
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await withAtomicFile(target, (tmp) => writeFile(tmp, data, { mode }));
}

export async function copyFileAtomic(source: string, target: string): Promise<void> {
  await withAtomicFile(target, (tmp) => copyFile(source, tmp));
}

/**
 * Fills a fresh directory beside `dir` with `fill`, then swaps it in: a reader sees the old
 * directory or the new one, never a mix, and a failure leaves the old one as it was.
 */
export async function replaceDirectory(dir: string, fill: (staging: string) => Promise<void>): Promise<void> {
  const staging = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await fill(staging);
    const old = `${staging}.old`;
    await rm(old, { recursive: true, force: true });
    await rename(dir, old).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(staging, dir);
    await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Places `source` at `dest` as a hard link (a copy across file systems), replacing what is there
 * atomically. Nothing may write to the file through either name afterwards.
 */
export async function linkAtomic(source: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = tempPathFor(dest);
  try {
    await link(source, tmp);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(source, tmp);
  }
  try {
    await rename(tmp, dest);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
