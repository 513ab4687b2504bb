// Deterministic image layers: a tar of files placed at absolute paths, in sorted order, with
// uid/gid 0, no user names and one fixed mtime, gzip-compressed with fixed settings. The same
// inputs give the same bytes, hence the same digest, on any machine.
import { createReadStream, createWriteStream, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { BuildError } from '../errors.ts';
import { compareCodePoints } from '../fs/walk.ts';
import type { AccountRequest } from './accounts.ts';
import type { RepositorySource } from '../rpm/repository.ts';
import { createSha256, hexDigest } from '../store/sha256.ts';

/** A package a layer installs: its name, and `version` or `version-release` to pin it. */
export interface LayerPackage {
  name: string;
  version?: string;
}

/** A yum repository of a packages layer: a name declared in packages-rpm/packages.yaml, or a whole source. */
export type LayerRepository = string | RepositorySource;

/** One entry of a layer: a host path (file, directory or symlink) placed at `path` in the image. */
export interface LayerEntry {
  path: string;
  source?: string;
  /** Overrides the source's permission bits. */
  mode?: number;
}

export interface LayerSource {
  /** A host directory whose content goes under `to`. */
  directory?: string;
  /** Single files. */
  files?: { from: string; to: string; mode?: number }[];
  to?: string;
  /** RPM files whose payloads are unpacked at the image root (no scriptlets run). */
  rpms?: string[];
  /** Packages, turned into RPM files by the build's resolver (BuildOptions.packageFiles). */
  packages?: LayerPackage[];
  /**
   * Where `packages` come from: yum repositories named in packages-rpm/packages.yaml or declared
   * here; absent, the ISO's own repositories.
   */
  repositories?: LayerRepository[];
  /** System accounts added to the image's /etc files (see accounts.ts). */
  users?: AccountRequest[];
}

/** File type bits of a mode (S_IFREG, S_IFDIR, S_IFLNK); the tar header keeps only the permission bits. */
const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;

interface PlannedEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  source?: string;
  size: number;
  linkname?: string;
}

/** Every entry of the layer, parents included, sorted by path. */
export function planLayer(sources: readonly LayerSource[], where: string): PlannedEntry[] {
  const entries = new Map<string, PlannedEntry>();
  const addParents = (path: string): void => {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i += 1) {
      const dir = parts.slice(0, i).join('/');
      if (!entries.has(dir)) entries.set(dir, { path: dir, type: 'directory', mode: 0o755, size: 0 });
    }
  };
  const addHost = (source: string, path: string, mode?: number): void => {
    let stats;
    try {
      stats = lstatSync(source);
    } catch {
      throw new BuildError(`${where}: ${source} does not exist`);
    }
    const name = posix.normalize(path).replace(/^\/+/, '').replace(/\/+$/, '');
    if (name.startsWith('..')) throw new BuildError(`${where}: "${path}" leaves the image root`);
    addParents(name);
    const bits = mode ?? stats.mode & 0o7777;
    if (stats.isSymbolicLink()) {
      entries.set(name, { path: name, type: 'symlink', mode: 0o777, size: 0, linkname: readlinkSync(source) });
    } else if (stats.isDirectory()) {
      if (name) entries.set(name, { path: name, type: 'directory', mode: bits, size: 0 });
      for (const child of readdirSync(source)) addHost(join(source, child), `${name}/${child}`);
    } else if (stats.isFile()) {
      entries.set(name, { path: name, type: 'file', mode: bits, size: stats.size, source });
    } else {
      throw new BuildError(`${where}: ${source} is neither a file, a directory nor a symbolic link`);
    }
  };
  for (const source of sources) {
    if (source.directory) addHost(source.directory, source.to ?? '/');
    for (const file of source.files ?? []) addHost(file.from, file.to, file.mode);
  }
  return [...entries.values()].sort((a, b) => compareCodePoints(a.path, b.path));
}

export interface WrittenLayer {
  /** sha256 of the compressed bytes: the blob's digest. */
  digest: string;
  /** sha256 of the tar: the config's rootfs.diff_ids entry. */
  diffId: string;
  size: number;
}

/** Writes the layer to `file` (gzip), hashing the tar and the compressed bytes as they pass. */
export async function writeLayer(entries: readonly PlannedEntry[], file: string, mtime: Date): Promise<WrittenLayer> {
  const archive = pack();
  const tarHash = createSha256();
  const gzHash = createSha256();
  let size = 0;
  const feed = (async () => {
    for (const entry of entries) {
      const header = {
        // With its type bits: tar-stream replaces a mode of 0 by 0644, and /etc/shadow is 0000.
        name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
        type: entry.type,
        mode: entry.mode | TYPE_BITS[entry.type],
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
        mtime,
        size: entry.type === 'file' ? entry.size : 0,
        ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
      };
      if (entry.type !== 'file') {
        archive.entry(header);
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        const sink = archive.entry(header, (error) => (error ? reject(error) : resolve()));
        createReadStream(entry.source!).on('error', reject).pipe(sink);
      }).catch((error: Error) => {
        throw new BuildError(`${entry.source}: ${error.message} (did it change during the build?)`);
      });
    }
    archive.finalize();
  })();
  const hashTar = async function* (chunks: AsyncIterable<unknown>) {
    for await (const chunk of chunks) {
      tarHash.update(chunk as Buffer);
      yield chunk;
    }
  };
  const hashGz = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      gzHash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  };
  await Promise.all([
    feed.catch((error: unknown) => {
      archive.destroy(error as Error);
      throw error;
    }),
    pipeline(
      archive,
      hashTar,
      createGzip({ level: constants.Z_BEST_COMPRESSION }),
      hashGz,
      createWriteStream(file, { mode: 0o644 }),
    ),
  ]);
  return { digest: hexDigest(gzHash.digest('hex')), diffId: hexDigest(tarHash.digest('hex')), size };
}
