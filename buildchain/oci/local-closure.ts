// The dependency closure of package names over yum repositories on disk (directories with
// repodata/, such as the ISO's own), leaving out what a target already has: what a package
// layer of an image needs beyond its base image. Answers the chosen RPM files.
import { createReadStream, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BuildError } from '../errors.ts';
import type { LayerPackage } from './layer.ts';
import { fileOwnersIn, openMetadata, parsePrimary, parseRepomd, type RpmPackage } from '../rpm/metadata.ts';
import { ownersAcross, resolveClosure } from '../rpm/resolve.ts';

interface LocalRepository {
  dir: string;
  packages: RpmPackage[];
  filelists?: string;
}

async function readRepository(dir: string): Promise<LocalRepository> {
  const repomd = join(dir, 'repodata', 'repomd.xml');
  if (!existsSync(repomd)) throw new BuildError(`${dir}: not a yum repository (no repodata/repomd.xml)`);
  const entries = await parseRepomd(createReadStream(repomd), repomd);
  const primary = entries.get('primary');
  if (!primary) throw new BuildError(`${repomd}: lists no primary metadata`);
  const filelists = entries.get('filelists');
  return {
    dir,
    packages: await parsePrimary(openMetadata(join(dir, primary.location)), basename(dir), join(dir, primary.location)),
    ...(filelists ? { filelists: join(dir, filelists.location) } : {}),
  };
}

/**
 * RPM files of `wanted` and of everything they require that no package of `installed` provides,
 * taken from `dirs` (the newest of a name wins). Errors name `where` and the missing requirement;
 * `within` is how they call the repositories.
 */
export async function localClosure(
  dirs: readonly string[],
  wanted: readonly LayerPackage[],
  where: string,
  installed: ReadonlySet<string>,
  within?: string,
): Promise<string[]> {
  const repositories = await Promise.all(dirs.map(readRepository));
  const byRepo = new Map(repositories.map((repo) => [basename(repo.dir), repo]));
  const chosen = await resolveClosure({
    packages: repositories.flatMap((repo) => repo.packages),
    priorities: new Map(),
    // A name the target has already is not installed again, as yum says "already installed".
    requests: wanted.filter((pkg) => !installed.has(pkg.name)).map((pkg) => ({ ...pkg, where })),
    exclude: installed,
    ...(within ? { within } : {}),
    fileOwners: (paths) =>
      ownersAcross(repositories, async (repo) =>
        repo.filelists ? fileOwnersIn(openMetadata(repo.filelists), repo.filelists, paths) : new Map(),
      ),
  });
  return chosen.map((pkg) => join(byRepo.get(pkg.repo)!.dir, pkg.location));
}
