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

function capability(attributes: Record<string, string>): Capability {
  const name = attributes.name ?? '';
  const flags = attributes.flags as Flags | undefined;
  if (!flags || attributes.ver === undefined) return { name };
  return { name, flags, evr: { epoch: attributes.epoch ?? '0', version: attributes.ver, release: attributes.rel } };
}

const ENTITY = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g;
const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const ATTRIBUTE = /\s([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(ENTITY, (_, hex?: string, decimal?: string, name?: string) =>
    name ? NAMED_ENTITIES[name]! : String.fromCodePoint(parseInt(hex ?? decimal!, hex ? 16 : 10)),
  );
}

function attributesOf(tag: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  // exec on the shared global expression: matchAll would clone it for every tag.
  ATTRIBUTE.lastIndex = 0;
  for (let match = ATTRIBUTE.exec(tag); match; match = ATTRIBUTE.exec(tag))
    attributes[match[1]!] = decodeEntities(match[2] ?? match[3]!);
  return attributes;
}

/** The text of the first `<tag>text</tag>` (or `<tag attributes>text</tag>`) in `block`, or ''. */
function elementText(block: string, tag: string): string {
  const plain = block.indexOf(`<${tag}>`);
  let open: number;
  if (plain >= 0) open = plain + tag.length + 1;
  else {
    const at = block.indexOf(`<${tag} `);
    if (at < 0) return '';
    open = block.indexOf('>', at);
    if (block[open - 1] === '/') return '';
  }
  return decodeEntities(block.slice(open + 1, block.indexOf(`</${tag}>`, open)));
}

/** The attributes of the first `<tag .../>` or `<tag ...>` in `block`. */
function elementAttributes(block: string, tag: string): Record<string, string> {
  const at = block.indexOf(`<${tag} `);
  return at < 0 ? {} : attributesOf(block.slice(at, block.indexOf('>', at)));
}

/**
 * A copy of a kept string that does not hold on to the text it was cut from: V8 makes substrings
 * of 13 characters or more point into their parent, here a whole decompressed chunk, and the
 * memory of a parse would grow with the size of primary.xml instead of its number of packages.
 */
function own(value: string): string {
  return value.length < 13 ? value : Buffer.from(value, 'utf8').toString('utf8');
}

/** One `<package>` element of primary.xml, as createrepo writes it. */
function packageOf(block: string, repo: string, intern: (value: string) => string): RpmPackage {
  const version = elementAttributes(block, 'version');
  const checksum = block.indexOf('<checksum ');
  const capabilities = (section: string): Capability[] => {
    const start = block.indexOf(`<${section}>`);
    if (start < 0) return [];
    const part = block.slice(start, block.indexOf(`</${section}>`, start));
    const list: Capability[] = [];
    for (let at = part.indexOf('<rpm:entry '); at >= 0; at = part.indexOf('<rpm:entry ', at + 1)) {
      const entry = capability(attributesOf(part.slice(at, part.indexOf('>', at))));
      entry.name = intern(entry.name);
      if (entry.evr)
        entry.evr = {
          epoch: own(entry.evr.epoch ?? '0'),
          version: own(entry.evr.version),
          release: entry.evr.release === undefined ? undefined : own(entry.evr.release),
        };
      list.push(entry);
    }
    return list;
  };
  const files: string[] = [];
  for (let at = block.indexOf('<file'); at >= 0; at = block.indexOf('<file', at + 1)) {
    const open = block.indexOf('>', at);
    if (block[at + 5] !== '>' && block[at + 5] !== ' ') continue;
    files.push(intern(decodeEntities(block.slice(open + 1, block.indexOf('</file>', open)))));
  }
  return {
    repo,
    name: intern(elementText(block, 'name')),
    arch: intern(elementText(block, 'arch')),
    epoch: version.epoch || '0',
    version: own(version.ver ?? ''),
    release: own(version.rel ?? ''),
    checksum:
      checksum < 0
        ? { type: '', value: '' }
        : {
            type: attributesOf(block.slice(checksum, block.indexOf('>', checksum))).type ?? '',
            value: own(elementText(block, 'checksum').trim()),
          },
    location: own(elementAttributes(block, 'location').href ?? ''),
    size: Number(elementAttributes(block, 'size').package ?? 0),
    sourcerpm: own(elementText(block, 'rpm:sourcerpm')),
    provides: capabilities('rpm:provides'),
    requires: capabilities('rpm:requires'),
    files,
  };
}

/**
 * Every package of a primary.xml. Only what resolution and download need is kept (no
 * descriptions, no changelogs), with repeated strings shared. primary.xml is most of a
 * resolution's time, so it is not tokenized as general XML: each `<package>` element is cut out
 * of the stream and read with indexOf and small regular expressions (about 8 times faster than
 * a SAX parser here). That relies on what createrepo writes (escaped text, no CDATA); the
 * package count the root element declares is checked against what was read.
 */
export async function parsePrimary(input: Readable, repo: string, where: string): Promise<RpmPackage[]> {
  const packages: RpmPackage[] = [];
  const strings = new Map<string, string>();
  const intern = (value: string) => {
    const known = strings.get(value);
    if (known !== undefined) return known;
    const copy = own(value);
    strings.set(copy, copy);
    return copy;
  };
  let declared: number | undefined;
  let buffer = '';
  input.setEncoding('utf8');
  try {
    for await (const chunk of input) {
      buffer += chunk as string;
      if (declared === undefined) {
        const root = /<metadata\b[^>]*>/.exec(buffer);
        if (root) declared = Number(attributesOf(root[0]).packages ?? NaN);
        else if (buffer.length > 1 << 16)
          throw new BuildError(`${where}: not a primary.xml (no <metadata> root element)`);
      }
      let at = 0;
      for (;;) {
        const start = buffer.indexOf('<package', at);
        if (start < 0) break;
        const end = buffer.indexOf('</package>', start);
        if (end < 0) {
          at = start;
          break;
        }
        packages.push(packageOf(buffer.slice(start, end), repo, intern));
        at = end + '</package>'.length;
      }
      buffer = buffer.slice(at);
      if (buffer.length > MAX_ELEMENT_CHARS)
        throw new BuildError(`${where}: ${MAX_ELEMENT_CHARS >> 20} MiB without a complete <package> element`);
    }
  } catch (error) {
    if (error instanceof BuildError) throw error;
    throw new BuildError(`${where}: ${(error as Error).message}`);
  }
  if (declared === undefined || !buffer.includes('</metadata>'))
    throw new BuildError(`${where}: truncated or not a primary.xml (no </metadata>)`);
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
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
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
