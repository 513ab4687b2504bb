// Yum repository metadata (createrepo's format): repomd.xml, then primary.xml and, when a file
// dependency needs it, filelists.xml, parsed as streams (primary is tens of MB compressed) with
// saxes. Compressed with gzip (zlib), xz or zstd (their Debian tools, streaming).
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { SaxesParser } from 'saxes';
import { BuildError } from '../errors.ts';
import { requireExecutable } from '../tools.ts';
import type { Capability, Flags } from './vercmp.ts';

export interface RpmPackage {
  repo: string;
  name: string;
  arch: string;
  epoch: string;
  version: string;
  release: string;
  checksum: { type: string; value: string };
  /** Relative to the repository's base URL. */
  location: string;
  size: number;
  sourcerpm: string;
  provides: Capability[];
  requires: Capability[];
  /** The files primary.xml lists (binaries and /etc); filelists.xml has the rest. */
  files: string[];
}

export function nevra(pkg: Pick<RpmPackage, 'name' | 'epoch' | 'version' | 'release' | 'arch'>): string {
  return `${pkg.name}-${pkg.epoch && pkg.epoch !== '0' ? `${pkg.epoch}:` : ''}${pkg.version}-${pkg.release}.${pkg.arch}`;
}

export interface RepomdEntry {
  location: string;
  checksum: { type: string; value: string };
  size?: number;
}

async function parseXml(input: Readable, where: string, handlers: {
  open(name: string, attributes: Record<string, string>): void;
  close(name: string): void;
  text?(text: string): void;
}): Promise<void> {
  const parser = new SaxesParser();
  parser.on('opentag', (node) => handlers.open(node.name, node.attributes as Record<string, string>));
  parser.on('closetag', (node) => handlers.close(node.name));
  if (handlers.text) parser.on('text', handlers.text);
  try {
    input.setEncoding('utf8');
    for await (const chunk of input) parser.write(chunk as string);
    parser.close();
  } catch (error) {
    throw new BuildError(`${where}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** repomd.xml: where each metadata file is, with its checksum. */
export async function parseRepomd(input: Readable, where: string): Promise<Map<string, RepomdEntry>> {
  const entries = new Map<string, RepomdEntry>();
  let current: { type: string; location?: string; checksum?: { type: string; value: string }; size?: number } | undefined;
  let field: 'checksum' | 'size' | undefined;
  let checksumType = '';
  let text = '';
  await parseXml(input, where, {
    open(name, attributes) {
      if (name === 'data') current = { type: attributes.type ?? '' };
      else if (current && name === 'location') current.location = attributes.href;
      else if (current && (name === 'checksum' || name === 'size')) {
        field = name;
        checksumType = attributes.type ?? '';
        text = '';
      }
    },
    text(value) {
      if (field) text += value;
    },
    close(name) {
      if (current && field === name) {
        if (name === 'checksum') current.checksum = { type: checksumType, value: text.trim() };
        else current.size = Number(text.trim());
        field = undefined;
      }
      if (name === 'data' && current) {
        if (!current.location || !current.checksum) throw new BuildError(`${where}: <data type="${current.type}"> lacks a location or a checksum`);
        entries.set(current.type, { location: current.location, checksum: current.checksum, ...(current.size !== undefined ? { size: current.size } : {}) });
        current = undefined;
      }
    },
  });
  if (!entries.has('primary')) throw new BuildError(`${where}: no primary metadata listed`);
  return entries;
}

function capability(attributes: Record<string, string>): Capability {
  const name = attributes.name ?? '';
  const flags = attributes.flags as Flags | undefined;
  if (!flags || attributes.ver === undefined) return { name };
  return { name, flags, evr: { epoch: attributes.epoch ?? '0', version: attributes.ver, release: attributes.rel } };
}

/**
 * Every package of a primary.xml. Only what resolution and download need is kept (no
 * descriptions, no changelogs), with repeated strings shared.
 */
export async function parsePrimary(input: Readable, repo: string, where: string): Promise<RpmPackage[]> {
  const packages: RpmPackage[] = [];
  const strings = new Map<string, string>();
  const intern = (value: string) => {
    const known = strings.get(value);
    if (known !== undefined) return known;
    strings.set(value, value);
    return value;
  };
  let pkg: RpmPackage | undefined;
  let list: Capability[] | undefined;
  let field: string | undefined;
  let text = '';
  let checksumType = '';
  await parseXml(input, where, {
    open(name, attributes) {
      if (name === 'package') {
        pkg = { repo, name: '', arch: '', epoch: '0', version: '', release: '', checksum: { type: '', value: '' }, location: '', size: 0, sourcerpm: '', provides: [], requires: [], files: [] };
        return;
      }
      if (!pkg) return;
      switch (name) {
        case 'version':
          pkg.epoch = attributes.epoch || '0';
          pkg.version = attributes.ver ?? '';
          pkg.release = attributes.rel ?? '';
          break;
        case 'location':
          pkg.location = attributes.href ?? '';
          break;
        case 'size':
          pkg.size = Number(attributes.package ?? 0);
          break;
        case 'rpm:provides':
          list = pkg.provides;
          break;
        case 'rpm:requires':
          list = pkg.requires;
          break;
        case 'rpm:entry':
          if (list) {
            const entry = capability(attributes);
            entry.name = intern(entry.name);
            list.push(entry);
          }
          break;
        case 'checksum':
          checksumType = attributes.type ?? '';
          field = name;
          text = '';
          break;
        case 'name': case 'arch': case 'file': case 'rpm:sourcerpm':
          field = name;
          text = '';
          break;
        default:
      }
    },
    text(value) {
      if (field) text += value;
    },
    close(name) {
      if (!pkg) return;
      if (name === field) {
        if (name === 'name') pkg.name = intern(text);
        else if (name === 'arch') pkg.arch = intern(text);
        else if (name === 'file') pkg.files.push(intern(text));
        else if (name === 'rpm:sourcerpm') pkg.sourcerpm = text;
        else if (name === 'checksum') pkg.checksum = { type: checksumType, value: text.trim() };
        field = undefined;
      } else if (name === 'rpm:provides' || name === 'rpm:requires') {
        list = undefined;
      } else if (name === 'package') {
        packages.push(pkg);
        pkg = undefined;
      }
    },
  });
  return packages;
}

/** filelists.xml: every file of every package, by package checksum (pkgid). */
export async function parseFilelists(input: Readable, where: string, onPackage: (pkgid: string, files: string[]) => void): Promise<void> {
  let pkgid: string | undefined;
  let files: string[] = [];
  let inFile = false;
  let text = '';
  await parseXml(input, where, {
    open(name, attributes) {
      if (name === 'package') {
        pkgid = attributes.pkgid;
        files = [];
      } else if (name === 'file') {
        inFile = true;
        text = '';
      }
    },
    text(value) {
      if (inFile) text += value;
    },
    close(name) {
      if (name === 'file' && inFile) {
        files.push(text);
        inFile = false;
      } else if (name === 'package' && pkgid !== undefined) {
        onPackage(pkgid, files);
        pkgid = undefined;
      }
    },
  });
}

/** A metadata file's content, decompressed as its name says (.gz, .xz, .zst, .bz2, or plain). */
export function openMetadata(path: string, name = path): Readable {
  const file = createReadStream(path);
  if (name.endsWith('.gz')) return file.pipe(createGunzip());
  const tool = name.endsWith('.xz') ? 'xz' : name.endsWith('.zst') ? 'zstd' : name.endsWith('.bz2') ? 'bzip2' : undefined;
  if (!tool) return file;
  const child = spawn(requireExecutable(tool), ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  file.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new BuildError(`${name}: ${tool} -dc failed (exit ${code}): ${stderr.trim()}`));
  });
  child.on('error', (error) => out.destroy(error));
  return out;
}
