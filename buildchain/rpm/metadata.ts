// Yum repository metadata (createrepo's format): repomd.xml, then primary.xml and, when a file
// dependency needs it, filelists.xml, parsed as streams (primary is tens of MB) with
// saxes. Compressed with gzip (zlib), xz or zstd (their Debian tools, streaming). What a parser
// holds at once is bounded (one package element, one file name), so that input that never
// closes an element cannot grow memory; the bytes of a whole file are bounded by the caller.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { SaxesParser } from 'saxes';
import { byteLimit } from '../byte-limit.ts';
import { BuildError } from '../errors.ts';
import { requireExecutable } from '../tools.ts';
import { XmlError, XmlScanner } from './xml-scan.ts';
import type { Capability, Evr, Flags } from './vercmp.ts';

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
  /** Of the file as stored (compressed). */
  size?: number;
  /** Of its content once decompressed (`<open-size>`). */
  openSize?: number;
}

/** Past this, a `<package>` of primary.xml or a `<file>` of filelists.xml is not one createrepo wrote. */
export const MAX_ELEMENT_CHARS = 16 << 20;

async function parseXml(
  input: Readable,
  where: string,
  handlers: {
    open(name: string, attributes: Record<string, string>): void;
    close(name: string): void;
    text?(text: string): void;
  },
): Promise<void> {
  const parser = new SaxesParser({ position: false });
  parser.on('opentag', (node) => handlers.open(node.name, node.attributes as Record<string, string>));
  parser.on('closetag', (node) => handlers.close(node.name));
  if (handlers.text) parser.on('text', handlers.text);
  try {
    input.setEncoding('utf8');
    for await (const chunk of input) parser.write(chunk as string);
    parser.close();
  } catch (error) {
    if (error instanceof BuildError) throw error;
    throw new BuildError(`${where}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** repomd.xml: where each metadata file is, with its checksum. */
export async function parseRepomd(input: Readable, where: string): Promise<Map<string, RepomdEntry>> {
  const entries = new Map<string, RepomdEntry>();
  let current:
    | {
        type: string;
        location?: string;
        checksum?: { type: string; value: string };
        size?: number;
        openSize?: number;
      }
    | undefined;
  let field: 'checksum' | 'size' | 'open-size' | undefined;
  let checksumType = '';
  let text = '';
  await parseXml(input, where, {
    open(name, attributes) {
      if (name === 'data') current = { type: attributes.type ?? '' };
      else if (current && name === 'location') current.location = attributes.href;
      else if (current && (name === 'checksum' || name === 'size' || name === 'open-size')) {
        field = name;
        checksumType = attributes.type ?? '';
        text = '';
      }
    },
    text(value) {
      if (!field) return;
      text += value;
      if (text.length > 1024) throw new BuildError(`${where}: a <${field}> of more than 1024 characters`);
    },
    close(name) {
      if (current && field === name) {
        if (name === 'checksum') current.checksum = { type: checksumType, value: text.trim() };
        else {
          // A size bounds a download or a decompression: one that is not a byte count bounds nothing.
          if (!/^\d+$/.test(text.trim()))
            throw new BuildError(`${where}: <${name}> of ${current.type} is "${text.trim()}", not a number of bytes`);
          if (name === 'size') current.size = Number(text.trim());
          else current.openSize = Number(text.trim());
        }
        field = undefined;
      }
      if (name === 'data' && current) {
        if (!current.location || !current.checksum)
          throw new BuildError(`${where}: <data type="${current.type}"> lacks a location or a checksum`);
        entries.set(current.type, {
          location: current.location,
          checksum: current.checksum,
          ...(current.size !== undefined ? { size: current.size } : {}),
          ...(current.openSize !== undefined ? { openSize: current.openSize } : {}),
        });
        current = undefined;
      }
    },
  });
  if (!entries.has('primary')) throw new BuildError(`${where}: no primary metadata listed`);
  return entries;
}

/** The elements of primary.xml that are read; every other one is skipped. */
const enum At {
  Other,
  Package,
  Name,
  Arch,
  Version,
  Checksum,
  Location,
  Size,
  Format,
  SourceRpm,
  Provides,
  Requires,
  Entry,
  File,
}

/** The names the primary.xml handler compares, shared with the scanner so that they compare as one string. */
const PRIMARY_NAMES = [
  ...['metadata', 'package', 'name', 'arch', 'version', 'checksum', 'location', 'size', 'format', 'file'],
  ...['rpm:provides', 'rpm:requires', 'rpm:sourcerpm', 'rpm:entry'],
  ...['packages', 'epoch', 'ver', 'rel', 'type', 'href', 'flags'],
];

/** What a primary.xml element is, by its depth (1 is the root) and name. */
function elementOf(depth: number, name: string, section: At): At {
  if (depth === 2) return name === 'package' ? At.Package : At.Other;
  if (depth === 3) {
    switch (name) {
      case 'name':
        return At.Name;
      case 'arch':
        return At.Arch;
      case 'version':
        return At.Version;
      case 'checksum':
        return At.Checksum;
      case 'location':
        return At.Location;
      case 'size':
        return At.Size;
      case 'format':
        return At.Format;
    }
    return At.Other;
  }
  if (depth === 4 && section === At.Format) {
    switch (name) {
      case 'file':
        return At.File;
      case 'rpm:provides':
        return At.Provides;
      case 'rpm:requires':
        return At.Requires;
      case 'rpm:sourcerpm':
        return At.SourceRpm;
    }
    return At.Other;
  }
  if (depth === 5 && (section === At.Provides || section === At.Requires) && name === 'rpm:entry') return At.Entry;
  return At.Other;
}

/** A package being read: its fields as they come, in whatever order. */
function emptyPackage(repo: string): RpmPackage {
  return {
    repo,
    name: '',
    arch: '',
    epoch: '0',
    version: '',
    release: '',
    checksum: { type: '', value: '' },
    location: '',
    size: 0,
    sourcerpm: '',
    provides: [],
    requires: [],
    files: [],
  };
}

/**
 * Feeds `input` to `scanner`; its errors, as one line naming the file (`what` it should be when
 * the error comes before its root element: then it is not XML at all).
 */
async function scanXml(
  input: Readable,
  where: string,
  what: string,
  scanner: XmlScanner,
  afterChunk?: () => void,
): Promise<void> {
  try {
    for await (const chunk of input) {
      scanner.write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      afterChunk?.();
    }
  } catch (error) {
    if (error instanceof BuildError) throw error;
    const message = (error as Error).message.split('\n')[0];
    if (!(error instanceof XmlError)) throw new BuildError(`${where}: ${message}`);
    if (!scanner.started) throw new BuildError(`${where}: not a ${what} (${message})`);
    throw new BuildError(`${where}: not well-formed XML near byte ${scanner.offset}: ${message}`);
  }
}

/**
 * Every package of a primary.xml. Only what resolution and download need is kept (no
 * descriptions, no changelogs), with repeated strings shared. primary.xml is most of a
 * resolution's time: it is read by a scanner over bytes (xml-scan.ts) that decodes only the
 * fields kept and skips the rest with memchr, about 5 times faster than the regular expressions
 * over decoded text it replaced, and correct for any well-formed XML (attributes in any order,
 * references, CDATA). The package count the root element declares is checked against what was read.
 */
export async function parsePrimary(input: Readable, repo: string, where: string): Promise<RpmPackage[]> {
  const packages: RpmPackage[] = [];
  let declared: number | undefined;
  let rootName = '';
  // The element at each depth (index 1 is the root), and the package being read.
  const path: At[] = [At.Other];
  let current: RpmPackage = emptyPackage(repo);
  let packageStart = -1;
  let element = At.Other;
  // The attributes of the <rpm:entry> being read.
  let entryName = '';
  let flags: string | undefined;
  let epoch: string | undefined;
  let ver: string | undefined;
  let rel: string | undefined;
  // Equal versions of capabilities share one object (most provides carry their package's own).
  const evrs = new Map<string, Map<string, Map<string | undefined, Evr>>>();
  const scanner: XmlScanner = new XmlScanner(
    {
      open(name) {
        const depth = scanner.depth;
        if (depth === 1) {
          rootName = name;
          if (name !== 'metadata') throw new BuildError(`${where}: not a primary.xml (root element <${name}>)`);
          element = At.Other;
        } else element = elementOf(depth, name, path[depth - 1]!);
        path[depth] = element;
        switch (element) {
          case At.Package:
            current = emptyPackage(repo);
            packageStart = scanner.offset;
            return false;
          case At.Entry:
            entryName = '';
            flags = epoch = ver = rel = undefined;
            return true;
          case At.Version:
          case At.Checksum:
          case At.Location:
          case At.Size:
            return true;
        }
        return depth === 1;
      },
      attribute(name) {
        switch (element) {
          case At.Other:
            if (scanner.depth === 1 && name === 'packages') declared = Number(scanner.value());
            return;
          case At.Version:
            if (name === 'epoch') current.epoch = scanner.sharedValue() || '0';
            else if (name === 'ver') current.version = scanner.sharedValue();
            else if (name === 'rel') current.release = scanner.sharedValue();
            return;
          case At.Checksum:
            if (name === 'type') current.checksum.type = scanner.sharedValue();
            return;
          case At.Location:
            if (name === 'href') current.location = scanner.value();
            return;
          case At.Size:
            if (name === 'package') current.size = Number(scanner.value());
            return;
          case At.Entry:
            if (name === 'name') entryName = scanner.sharedValue();
            else if (name === 'flags') flags = scanner.sharedValue();
            else if (name === 'epoch') epoch = scanner.sharedValue();
            else if (name === 'ver') ver = scanner.sharedValue();
            else if (name === 'rel') rel = scanner.sharedValue();
            return;
        }
      },
      openEnd() {
        switch (element) {
          case At.Name:
          case At.Arch:
          case At.File:
            scanner.collect = true;
            scanner.shareText = true;
            scanner.text = '';
            return;
          case At.Checksum:
          case At.SourceRpm:
            scanner.collect = true;
            scanner.shareText = false;
            scanner.text = '';
            return;
          case At.Entry: {
            const list = path[scanner.depth - 1] === At.Provides ? current.provides : current.requires;
            if (!flags || ver === undefined) {
              list.push({ name: entryName });
              return;
            }
            const e = epoch ?? '0';
            let byVersion = evrs.get(e);
            if (byVersion === undefined) evrs.set(e, (byVersion = new Map()));
            let byRelease = byVersion.get(ver);
            if (byRelease === undefined) byVersion.set(ver, (byRelease = new Map()));
            let evr = byRelease.get(rel);
            if (evr === undefined) byRelease.set(rel, (evr = { epoch: e, version: ver, release: rel }));
            list.push({ name: entryName, flags: flags as Flags, evr });
            return;
          }
        }
      },
      close() {
        const depth = scanner.depth + 1;
        const closing = path[depth]!;
        switch (closing) {
          case At.Name:
            current.name = scanner.text;
            break;
          case At.Arch:
            current.arch = scanner.text;
            break;
          case At.Checksum:
            current.checksum.value = scanner.text.trim();
            break;
          case At.SourceRpm:
            current.sourcerpm = scanner.text;
            break;
          case At.File:
            current.files.push(scanner.text);
            break;
          case At.Package:
            packages.push(current);
            packageStart = -1;
            break;
        }
        scanner.collect = false;
        scanner.text = '';
        element = path[depth - 1]!;
      },
    },
    MAX_ELEMENT_CHARS,
    PRIMARY_NAMES,
  );
  await scanXml(input, where, 'primary.xml', scanner, () => {
    if (packageStart >= 0 && scanner.offset - packageStart > MAX_ELEMENT_CHARS)
      throw new BuildError(`${where}: ${MAX_ELEMENT_CHARS >> 20} MiB without a complete <package> element`);
  });
  if (!scanner.done || rootName !== 'metadata' || declared === undefined) {
    throw new BuildError(`${where}: truncated or not a primary.xml (no </metadata>)`);
  }
  if (declared !== packages.length)
    throw new BuildError(`${where}: declares ${declared} packages, ${packages.length} read`);
  const broken = packages.find((pkg) => !pkg.name || !pkg.arch || !pkg.version || !pkg.location || !pkg.checksum.value);
  if (broken)
    throw new BuildError(
      `${where}: a package entry lacks its name, arch, version, location or checksum (${broken.name || '?'})`,
    );
  return packages;
}

/** filelists.xml: every file of every package, by package checksum (pkgid). */
/**
 * The packages (by checksum) that own each of `paths` in a filelists.xml stream; only the asked
 * paths are kept, so memory follows the question, not the repository.
 */
export async function fileOwnersIn(
  input: Readable,
  where: string,
  paths: ReadonlySet<string>,
): Promise<Map<string, string[]>> {
  const owners = new Map<string, string[]>();
  await parseFilelists(input, where, (pkgid, files) => {
    for (const file of files) if (paths.has(file)) owners.set(file, [...(owners.get(file) ?? []), pkgid]);
  });
  return owners;
}

export async function parseFilelists(
  input: Readable,
  where: string,
  onPackage: (pkgid: string, files: string[]) => void,
): Promise<void> {
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
      if (!inFile) return;
      text += value;
      if (text.length > MAX_ELEMENT_CHARS)
        throw new BuildError(`${where}: a <file> name of more than ${MAX_ELEMENT_CHARS >> 20} MiB`);
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

/**
 * A metadata file's content, decompressed as its name says (.gz, .xz, .zst, .bz2, or plain). With
 * `limit`, the content fails with `limit.tooLarge()` past `limit.bytes` decompressed: a small
 * file that expands without end (a decompression bomb) is cut as it streams. A reader that stops
 * early (a bound, a parse error) ends the decompressing tool too.
 */
export function openMetadata(path: string, name = path, limit?: { bytes: number; tooLarge: () => Error }): Readable {
  // Large chunks: the parser's per-write cost, not the bytes, is what small chunks multiply.
  return decompressMetadata(createReadStream(path, { highWaterMark: 1 << 20 }), name, limit);
}

/** The same for content that streams from elsewhere (a download). */
export function decompressMetadata(
  file: Readable,
  name: string,
  limit?: { bytes: number; tooLarge: () => Error },
): Readable {
  const bounded = (content: Readable): Readable =>
    // Errors reach the reader through the last stream; pipeline destroys the others with it.
    limit ? pipeline(content, byteLimit(limit.bytes, limit.tooLarge), () => undefined) : content;
  if (name.endsWith('.gz')) return bounded(pipeline(file, createGunzip({ chunkSize: 1 << 20 }), () => undefined));
  const tool = name.endsWith('.xz')
    ? 'xz'
    : name.endsWith('.zst')
      ? 'zstd'
      : name.endsWith('.bz2')
        ? 'bzip2'
        : undefined;
  if (!tool) return bounded(file);
  const child = spawn(requireExecutable(tool), ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Killed below, the tool stops reading: its input's broken pipe is expected, not an error.
  child.stdin.on('error', () => undefined);
  file.pipe(child.stdin);
  // pipe() passes neither an error nor an early end on: the tool would wait for the rest.
  file.once('error', (error) => out.destroy(error));
  file.once('close', () => {
    if (!file.readableEnded) out.destroy(new BuildError(`${name}: the content ended before its end`));
  });
  child.stdout.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new BuildError(`${name}: ${tool} -dc failed (exit ${code}): ${stderr.trim()}`));
  });
  child.on('error', (error) => out.destroy(error));
  out.once('close', () => {
    if (child.exitCode === null) child.kill();
    file.destroy();
  });
  return bounded(out);
}
