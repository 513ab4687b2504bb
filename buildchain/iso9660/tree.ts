// The source tree of an ISO, read once: names, kinds, modes, sizes, times, symlink targets and
// hard links (files sharing an inode are stored once). Entries are sorted by real name so the
// same tree always gives the same ISO.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { compareCodePoints } from '../fs/walk.ts';

export type NodeKind = 'file' | 'directory' | 'symlink' | 'special';

export interface SourceNode {
  /** Real name (UTF-8); '' for the root. */
  name: string;
  /** Path relative to the tree's root, for messages. */
  path: string;
  /** Absolute path of the source. */
  source: string;
  kind: NodeKind;
  /** st_mode: type and permission bits. */
  mode: number;
  mtime: number;
  size: number;
  rdev: number;
  /** Hard-link identity (dev:ino) of regular files linked more than once. */
  linkKey?: string;
  target?: string;
  children: SourceNode[];
}

function kindOf(stats: Stats, path: string): NodeKind {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO() || stats.isCharacterDevice() || stats.isBlockDevice()) return 'special';
  throw new BuildError(`${path}: a socket cannot be stored in an ISO`);
}

/** Reads `root` recursively; names that are not valid UTF-8 cannot be represented and are errors. */
export function scanTree(root: string): SourceNode {
  const visit = (source: string, name: string, path: string): SourceNode => {
    let stats: Stats;
    try {
      stats = lstatSync(source);
    } catch (error) {
      throw new BuildError(`${source}: cannot read (${(error as Error).message})`);
    }
    const kind = kindOf(stats, source);
    const node: SourceNode = {
      name, path, source, kind, mode: stats.mode, mtime: Math.floor(stats.mtimeMs / 1000),
      size: kind === 'file' ? stats.size : 0, rdev: stats.rdev, children: [],
    };
    if (kind === 'file' && stats.nlink > 1) node.linkKey = `${stats.dev}:${stats.ino}`;
    if (kind === 'symlink') node.target = readlinkSync(source, 'utf8');
    if (kind === 'directory') {
      let names: Buffer[];
      try {
        names = readdirSync(source, { encoding: 'buffer' });
      } catch (error) {
        throw new BuildError(`${source}: cannot list (${(error as Error).message})`);
      }
      const decoded = names.map((raw) => {
        const text = raw.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(raw)) {
          throw new BuildError(`${join(source, raw.toString('latin1'))}: the name is not valid UTF-8 and cannot be represented in Rock Ridge or Joliet`);
        }
        return text;
      });
      node.children = decoded.sort(compareCodePoints).map((child) => visit(join(source, child), child, path ? `${path}/${child}` : child));
    }
    return node;
  };
  const top = visit(root, '', '');
  if (top.kind !== 'directory') throw new BuildError(`${root}: not a directory`);
  return top;
}
