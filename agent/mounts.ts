// Archive mounts under /srv/scality: mounted read-only and recorded in /etc/fstab with `nofail`,
// as Salt's mount.mounted(persist) writes them, so that they come back after a reboot and Salt
// finds its own entry when it runs afterwards. The agent never mounts twice: a mount point that
// already shows the archive's product.txt is left alone.
import { existsSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { generatedLine, isGeneratedLine } from '../buildchain/generated.ts';
import { holdsArchive, type ArchiveInfo } from './archive-info.ts';
import type { Host } from './host.ts';
import { AGENT_VERSION } from './version.ts';

const FSTAB = '/etc/fstab';

/** /srv/scality/<name>-<version>, the name lowercased and its blanks dashed, as Salt names it. */
export function mountPointFor(info: Pick<ArchiveInfo, 'name' | 'version'>): string {
  return `/srv/scality/${info.name.toLowerCase().replace(/ /g, '-')}-${info.version}`;
}

function fstabLines(host: Host): string[] {
  const file = host.path(FSTAB);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
}

/** The mount point /etc/fstab gives for a device, if any. */
export function fstabMountPoint(host: Host, device: string): string | undefined {
  for (const line of fstabLines(host)) {
    const [source, target] = line.trim().split(/\s+/);
    if (source === device && target && !line.trim().startsWith('#')) return target;
  }
  return undefined;
}

async function writeFstab(host: Host, description: string, lines: string[]): Promise<void> {
  const text = `${lines.join('\n').replace(/\n+$/, '')}\n`;
  await host.change(description, () => writeFileAtomic(host.path(FSTAB), text));
}

/** Mounts the ISO at `mountPoint` (a host path) and records it in /etc/fstab. */
export async function mountArchive(host: Host, info: ArchiveInfo, mountPoint: string): Promise<void> {
  const dir = host.path(mountPoint);
  if (holdsArchive(dir, info)) host.say(`  ${info.path} already mounted at ${mountPoint}`);
  else {
    if (!existsSync(dir))
      await host.change(`create ${mountPoint}`, async () => void (await mkdir(dir, { recursive: true })));
    await host.run(`mount ${info.path} at ${mountPoint}`, 'MOUNT', ['-o', 'ro', '-t', 'iso9660', info.path, dir]);
  }
  if (fstabMountPoint(host, info.path) !== mountPoint) {
    const others = withoutEntry(fstabLines(host), mountPoint);
    await writeFstab(host, `record ${mountPoint} in ${FSTAB}`, [
      ...others,
      fstabTag(mountPoint).trimEnd(),
      `${info.path} ${mountPoint} iso9660 ro,nofail 0 0`,
    ]);
  }
}

/** Unmounts whatever is at `mountPoint`, removes the empty mount point and its fstab entry. */
export async function unmountArchive(
  host: Host,
  info: Pick<ArchiveInfo, 'name' | 'version'>,
  mountPoint: string,
): Promise<void> {
  const dir = host.path(mountPoint);
  if (holdsArchive(dir, info)) await host.run(`unmount ${mountPoint}`, 'UMOUNT', [dir]);
  else host.say(`  nothing mounted at ${mountPoint}`);
  // rmdir, not rm -r: if the unmount did not happen, the archive's files stay where they are.
  if (existsSync(dir) && statSync(dir).isDirectory() && (host.options.dryRun || readdirSync(dir).length === 0)) {
    await host.change(`remove ${mountPoint}`, async () => rmdirSync(dir));
  }
  const lines = fstabLines(host);
  const kept = withoutEntry(lines, mountPoint);
  if (kept.length !== lines.length) await writeFstab(host, `remove ${mountPoint} from ${FSTAB}`, kept);
}

/** Who writes the tag above an entry (upstream's tagged generated files). */
const tagWriter = (mountPoint: string): string => `metalk8s-agent, mount of ${mountPoint}`;

function fstabTag(mountPoint: string): string {
  return generatedLine('MetalK8s', AGENT_VERSION, tagWriter(mountPoint));
}

/** The lines of /etc/fstab without the entry of `mountPoint` and the tag an agent wrote above it. */
function withoutEntry(lines: string[], mountPoint: string): string[] {
  return lines.filter((line) => {
    if (line.trim().startsWith('#')) return !isGeneratedLine(line, 'MetalK8s', tagWriter(mountPoint));
    return line.trim().split(/\s+/)[1] !== mountPoint;
  });
}
