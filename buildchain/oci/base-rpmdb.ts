// What a base image already has installed, from its rpm database: the layers' var/lib/rpm (or
// usr/lib/sysimage/rpm) unpacked into a scratch directory and read with rpm. CentOS 7
// images keep a Berkeley DB (read with rpm's bdb_ro backend), newer ones SQLite.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { withScratchDir } from '../fs/scratch.ts';
import { requireExecutable, runTool } from '../tools.ts';
import { extractFromLayers } from './base-files.ts';
import type { Descriptor } from './media-types.ts';
import type { BlobStore } from '../store/blob-store.ts';

const RPMDB_DIRS = ['var/lib/rpm', 'usr/lib/sysimage/rpm'];

/** Names of the packages the image made of `layers` lists as installed; none without a database. */
export async function installedPackages(
  store: BlobStore,
  layers: readonly Descriptor[],
  signal: AbortSignal,
): Promise<Set<string>> {
  return withScratchDir('rpmdb', async (dir) => {
    await extractFromLayers(
      store,
      layers,
      dir,
      (path) => RPMDB_DIRS.some((db) => path.startsWith(`${db}/`)),
      'the rpm database',
      signal,
    );
    for (const db of RPMDB_DIRS) {
      const path = join(dir, db);
      if (!existsSync(path)) continue;
      const backend = existsSync(join(path, 'Packages')) ? 'bdb_ro' : 'sqlite';
      const listed = await runTool(
        requireExecutable('rpm'),
        ['--dbpath', path, '--define', `_db_backend ${backend}`, '-qa', '--qf', '%{NAME}\\n'],
        { signal, what: `reading the base image's rpm database (${db})` },
      );
      return new Set(listed.split('\n').filter(Boolean));
    }
    return new Set<string>();
  });
}
