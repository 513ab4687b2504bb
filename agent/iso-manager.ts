// ISO management (iso-manager.sh): make MetalK8s archives available on the bootstrap node.
// Each archive is checked first (checksum, signature when a key is given, product.txt); only
// when all pass are they added to bootstrap.yaml, mounted at /srv/scality/metalk8s-<VERSION>,
// and handed to Salt. An archive that fails its checks changes nothing.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import semver from 'semver';
import { BuildError } from '../buildchain/errors.ts';
import { verifyIso } from '../buildchain/release/verify.ts';
import { readArchiveInfo, type ArchiveInfo } from './archive-info.ts';
import { BOOTSTRAP_CONFIG, editArchives } from './config-file.ts';
import type { Host } from './host.ts';
import { mountArchive, mountPointFor } from './mounts.ts';
import { applyArchives, nodeVersion } from './salt.ts';

export interface IsoManagerOptions {
  archives: string[];
  /** SHA256SUM listing the ISO (default: the one beside it). */
  sums?: string;
  /** The release's public key: SHA256SUM.asc must verify with it. */
  publicKey?: string;
  /** Operators who got the ISO without its SHA256SUM may skip the checksum, knowingly. */
  skipChecksum: boolean;
  /** Stop before Salt (a node not bootstrapped yet has none). */
  noSalt: boolean;
  /** The node's MetalK8s version (default: asked from Salt). */
  metalk8sVersion?: string;
  gpg: string;
}

async function checkArchive(host: Host, path: string, options: IsoManagerOptions): Promise<ArchiveInfo> {
  const info = await readArchiveInfo(path);
  if (!semver.valid(info.version))
    throw new BuildError(`${path}: product.txt VERSION "${info.version}" is not a version`);
  if (info.iso && !options.skipChecksum) {
    const sums = options.sums ?? join(dirname(path), 'SHA256SUM');
    if (!options.sums && !existsSync(sums))
      throw new BuildError(
        `${path}: no SHA256SUM beside it to check it with (give one with --sums, or --skip-checksum)`,
      );
    const checked = await verifyIso(path, {
      sums,
      ...(options.publicKey ? { publicKey: options.publicKey } : {}),
      gpg: options.gpg,
      signal: new AbortController().signal,
    });
    for (const line of checked) host.say(`  ${line}`);
  }
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
  await applyArchives(host, await nodeVersion(host, options.metalk8sVersion));
}
