// ISO management (iso-manager.sh): make MetalK8s archives available on the bootstrap node.
// Each archive is checked first (product.txt, and for an ISO the checks of iso-checks.ts); only
// when all pass are they added to bootstrap.yaml, mounted at /srv/scality/metalk8s-<VERSION>,
// and handed to Salt as upstream's script does. An archive that fails its checks changes nothing.
import { resolve } from 'node:path';
import semver from 'semver';
import { BuildError } from '../buildchain/errors.ts';
import { readArchiveInfo, type ArchiveInfo } from './archive-info.ts';
import { BOOTSTRAP_CONFIG, editArchives } from './config-file.ts';
import type { Host } from './host.ts';
import { checkIso, type IsoCheckOptions } from './iso-checks.ts';
import { mountArchive, mountPointFor } from './mounts.ts';
import { configureArchives, nodeVersion } from './salt.ts';

export interface IsoManagerOptions extends IsoCheckOptions {
  archives: string[];
  /** Stop before Salt (a node not bootstrapped yet has none). */
  noSalt: boolean;
  /** The node's MetalK8s version (default: asked from Salt). */
  metalk8sVersion?: string;
}

async function checkArchive(host: Host, path: string, options: IsoManagerOptions): Promise<ArchiveInfo> {
  const info = await readArchiveInfo(path);
  // What metalk8s.archives.mounted asserts, checked before anything changes.
  if (info.name !== 'MetalK8s')
    throw new BuildError(
      `${path}: product.txt NAME is "${info.name}", not MetalK8s (a Solution? see solution-manager.sh)`,
    );
  if (!semver.valid(info.version))
    throw new BuildError(`${path}: product.txt VERSION "${info.version}" is not a version`);
  if (info.iso) await checkIso(path, options, (line) => host.say(`  ${line}`));
  host.say(`  ${path}: ${info.name} ${info.version}`);
  return info;
}

export async function addArchives(host: Host, options: IsoManagerOptions): Promise<void> {
  host.say('> Check archives');
  const archives: ArchiveInfo[] = [];
  for (const path of options.archives) archives.push(await checkArchive(host, resolve(path), options));

  host.say('> Add archives');
  await editArchives(host, BOOTSTRAP_CONFIG, { add: archives.map((archive) => archive.path) });
  host.say('> Mount archives');
  for (const archive of archives.filter((candidate) => candidate.iso))
    await mountArchive(host, archive, mountPointFor({ name: 'metalk8s', version: archive.version }));

  if (options.noSalt) return;
  host.say('> Configure archives');
  await configureArchives(host, await nodeVersion(host, options.metalk8sVersion));
}
