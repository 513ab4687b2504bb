// Solution management (solution-manager.sh -a/-d): import Solution ISOs on the bootstrap node
// and take them away. An added Solution is validated against the archive guidelines and its
// REQUIRE_METALK8S first; then listed in solutions.yaml, mounted at /srv/scality/<name>-<version>,
// its registry-config.inc.j2 rendered into the repositories' nginx configuration, and nginx
// reloaded so its images are served at once. Removing undoes exactly these steps.
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import semver from 'semver';
import { BuildError } from '../buildchain/errors.ts';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { readArchiveInfo, type ArchiveInfo } from './archive-info.ts';
import { SOLUTIONS_CONFIG, editArchives, listArchives } from './config-file.ts';
import type { Host } from './host.ts';
import { fstabMountPoint, mountArchive, mountPointFor, unmountArchive } from './mounts.ts';
import { reloadRegistry, REGISTRY_CONFIG_DIR, renderRegistryTemplate } from './registry.ts';
import { nodeVersion, orchestrateSolutions } from './salt.ts';
import { validateSolution } from './solution/validate.ts';
import { generatedLine } from '../buildchain/generated.ts';
import { AGENT_VERSION } from './version.ts';

export interface SolutionManagerOptions {
  add: string[];
  remove: string[];
  /** The node's MetalK8s version (default: asked from Salt). */
  metalk8sVersion?: string;
  noSalt: boolean;
}

function registryConfigFile(mountPoint: string): string {
  return `${REGISTRY_CONFIG_DIR}/${posix.basename(mountPoint)}-registry-config.inc`;
}

async function checkSolution(host: Host, path: string, version: string): Promise<ArchiveInfo> {
  const { violations } = await validateSolution(path);
  if (violations.length > 0)
    throw new BuildError(
      `${path}: not a valid Solution archive:\n${violations.map((v) => `  ${v.path}: ${v.rule}`).join('\n')}`,
    );
  const info = await readArchiveInfo(path);
  const required = info.product.get('REQUIRE_METALK8S')!;
  if (!semver.satisfies(version, required, { includePrerelease: true })) {
    throw new BuildError(
      `${path}: ${info.name} ${info.version} requires MetalK8s ${required}, this node runs ${version}`,
    );
  }
  host.say(`  ${path}: ${info.name} ${info.version}, valid, requires MetalK8s ${required}`);
  return info;
}

export async function manageSolutions(host: Host, options: SolutionManagerOptions): Promise<void> {
  const version = await nodeVersion(host, options.metalk8sVersion);
  const adding: ArchiveInfo[] = [];
  if (options.add.length > 0) {
    host.say('> Check Solutions');
    // All checked before anything changes: one bad ISO leaves the node as it was.
    for (const path of options.add) adding.push(await checkSolution(host, resolve(path), version));
  }
  const removing = options.remove.map((path) => resolve(path));
  const listed = listArchives(host, SOLUTIONS_CONFIG);
  for (const path of removing) {
    if (!listed.includes(path)) host.say(`  ${path} is not in ${SOLUTIONS_CONFIG.file}`);
  }

  host.say('> Add/Delete Solutions');
  await editArchives(host, SOLUTIONS_CONFIG, { add: adding.map((info) => info.path), remove: removing });

  await removeSolutions(host, removing);
  await importSolutions(host, adding);

  if (options.noSalt) return;
  host.say('> Configure Solutions');
  await orchestrateSolutions(host, version);
}

/** Removes the registry configuration, then (nginx reloaded) the mounts of Solution ISOs. */
async function removeSolutions(host: Host, removing: readonly string[]): Promise<void> {
  const unmounts: { info: Pick<ArchiveInfo, 'name' | 'version'>; mountPoint: string }[] = [];
  let reload = false;
  for (const path of removing) {
    // The mount point comes from fstab: the ISO may be gone already.
    const info = existsSync(path) ? await readArchiveInfo(path) : undefined;
    const mountPoint = fstabMountPoint(host, path) ?? (info && mountPointFor(info));
    if (!mountPoint) {
      host.say(`  ${path}: neither the ISO nor an fstab entry says where it was mounted, nothing to unmount`);
      continue;
    }
    host.say(`> Remove ${path}`);
    const config = registryConfigFile(mountPoint);
    if (existsSync(host.path(config))) {
      await host.change(`remove ${config}`, () => rm(host.path(config)));
      reload = true;
    }
    const mounted =
      info ??
      (existsSync(host.path(`${mountPoint}/product.txt`)) ? await readArchiveInfo(host.path(mountPoint)) : undefined);
    unmounts.push({ info: mounted ?? { name: '', version: '' }, mountPoint });
  }
  if (reload) await reloadRegistry(host);
  // nginx forgets the images before they go.
  for (const { info, mountPoint } of unmounts) await unmountArchive(host, info, mountPoint);
}

/** Mounts Solution ISOs and writes their registry configuration; nginx is told once the images are in place. */
async function importSolutions(host: Host, adding: readonly ArchiveInfo[]): Promise<void> {
  let reload = false;
  for (const info of adding) {
    const mountPoint = mountPointFor(info);
    host.say(`> Import ${info.name} ${info.version}`);
    await mountArchive(host, info, mountPoint);
    const config = registryConfigFile(mountPoint);
    const rendered =
      host.options.dryRun && !existsSync(host.path(`${mountPoint}/registry-config.inc.j2`))
        ? undefined // not mounted in a dry run: nothing to render yet
        : generatedLine('MetalK8s', AGENT_VERSION, `solution-manager, from ${mountPoint}/registry-config.inc.j2`) +
          renderRegistryTemplate(host.path(`${mountPoint}/registry-config.inc.j2`), {
            repository: posix.basename(mountPoint),
            registry_root: host.path(`${mountPoint}/images`),
          });
    const current = existsSync(host.path(config)) ? readFileSync(host.path(config), 'utf8') : undefined;
    if (rendered === undefined || rendered !== current) {
      await host.change(`write ${config}`, () => writeFileAtomic(host.path(config), rendered!));
      reload = true;
    } else host.say(`  ${config} is up to date`);
  }
  if (reload) await reloadRegistry(host);
}
