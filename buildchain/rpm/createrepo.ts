// An ISO yum repository: packages placed by hard link (from the blob store or a build
// directory), then createrepo_c. With SOURCE_DATE_EPOCH, the metadata is byte-reproducible:
// package times and repomd timestamps are set to it, and no sqlite databases are written.
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { replaceDirectory } from '../fs/atomic.ts';
import { runTool } from '../tools.ts';

export interface RepositoryFile {
  /** File name in the repository. */
  name: string;
  /** Places the file at the given path (a hard link). */
  place(path: string): Promise<void>;
}

export async function writeRepository(
  dir: string,
  files: readonly RepositoryFile[],
  options: {
    createrepo: string;
    sourceDateEpoch?: number | undefined;
    signal: AbortSignal;
    /** Signs repodata/repomd.xml (writes repomd.xml.asc) before the repository is swapped in. */
    signMetadata?: (repomd: string) => Promise<void>;
  },
): Promise<void> {
  await replaceDirectory(dir, async (staging) => {
    for (const file of files) {
      if (file.name.includes('/') || file.name.startsWith('.'))
        throw new BuildError(`${dir}: "${file.name}" is not a plain file name`);
      await file.place(join(staging, file.name));
      // createrepo_c records each package's mtime; the store's files have their download time.
      if (options.sourceDateEpoch !== undefined)
        await utimes(join(staging, file.name), options.sourceDateEpoch, options.sourceDateEpoch);
    }
    const args = [
      '--no-database',
      '--quiet',
      ...(options.sourceDateEpoch !== undefined
        ? ['--revision', String(options.sourceDateEpoch), '--set-timestamp-to-revision']
        : []),
      staging,
    ];
    await runTool(options.createrepo, args, { signal: options.signal, what: `indexing ${dir}` });
    await options.signMetadata?.(join(staging, 'repodata', 'repomd.xml'));
  });
}
