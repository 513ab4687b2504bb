// nginx locations that answer the pull side of the OCI distribution API from `dir:` layouts, so
// containerd, cri-o, podman and skopeo pull from plain files with no registry daemon.
//
// Every manifest and blob gets an exact-match location (`location = ...`): nginx finds it in a
// tree by URI, sends the file with Content-Length, HEAD and Range for free, and the location
// carries the headers clients need (its exact media type, Docker-Content-Digest). Unknown
// references fall to per-repository prefix locations answering the spec's JSON errors.
// Each location turns off what an including server block may turn on and that would break
// clients: gzip drops Content-Length, charset alters the media type.
import { digestHex } from '../buildchain/store/sha256.ts';
import { BuildError } from '../buildchain/errors.ts';
import type { ImageTag } from './discover.ts';

export interface RegistryConfigOptions {
  /** Prepended to every repository name, e.g. `metalk8s-2.4.1/` or `{{ repository }}`. */
  namePrefix?: string;
  /** Where ROOT is on the serving host: a path, an nginx variable (`$x_images`) or a template. */
  serverRoot: string;
  /** 'include' (default): constant locations then images; 'omit': images only, for a server that
   *  includes the constants once; 'only': constants only. */
  constants?: 'include' | 'omit' | 'only';
}

const SAFE = ['gzip off;', 'charset off;'];

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message, detail: null }] });
}

function location(match: string, lines: string[]): string {
  return `\nlocation ${match} {\n${lines.map((line) => `    ${line}\n`).join('')}}\n`;
}

function jsonResponse(status: number, body: string, extra: string[] = []): string[] {
  return [...SAFE, 'types { } default_type "application/json";', ...extra, `return ${status} '${body}';`];
}

const API_VERSION = 'add_header Docker-Distribution-Api-Version "registry/2.0" always;';

/** Locations every server needs once, whatever it serves. */
export const CONSTANTS = [
  '\n# Static container registry: constant locations, included once per server.\n',
  location('= /v2', ['return 301 /v2/;']),
  location('= /v2/', jsonResponse(200, '{}', [API_VERSION])),
  // Upstream's name, kept for configurations written against it: a tag whose file is gone.
  location('@404_tag', ['internal;', ...jsonResponse(404, errorBody('TAG_INVALID', 'manifest tag did not match URI'))]),
  location(
    '^~ /v2/',
    jsonResponse(404, errorBody('NAME_UNKNOWN', 'repository name not known to registry'), [API_VERSION]),
  ),
].join('');

/** Checks what is written between double quotes in nginx syntax, where `"` and `\` would escape. */
function quotable(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (/["\\;\x00-\x1f]/.test(value))
    throw new BuildError(
      `${what} ${JSON.stringify(value)}: quotes, backslashes, semicolons and control characters cannot go in an nginx configuration`,
    );
  return value;
}

// The distribution spec's grammar for repository name components and tags.
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** A name or tag clients could not ask for would also break the nginx quoting: refuse it. */
function checkNames(image: ImageTag): void {
  const bad = image.name.split('/').find((component) => !NAME_COMPONENT.test(component));
  if (bad !== undefined)
    throw new BuildError(
      `${image.layout.dir}: "${bad}" is not a valid repository name component (lowercase letters and digits, with . _ __ - between them)`,
    );
  if (!TAG.test(image.tag))
    throw new BuildError(
      `${image.layout.dir}: "${image.tag}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`,
    );
}

/** `--name-prefix` as upstream reads it: slashes around it dropped, one '/' after a non-empty one. */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

function imageLocations(name: string, tags: ImageTag[], prefix: string, serverRoot: string): string[] {
  const repository = `${prefix}${name}`;
  const api = `/v2/${repository}`;
  const file = (tag: ImageTag, fileName: string) => `alias "${serverRoot}/${name}/${tag.tag}/${fileName}";`;
  const parts = [
    `\n# ${repository}: ${tags.map((tag) => tag.tag).join(', ')}\n`,
    location(
      `= "${api}/tags/list"`,
      jsonResponse(200, JSON.stringify({ name: repository, tags: tags.map((tag) => tag.tag) })),
    ),
    location(`^~ "${api}/manifests/"`, jsonResponse(404, errorBody('MANIFEST_UNKNOWN', 'manifest unknown'))),
    location(`^~ "${api}/blobs/"`, jsonResponse(404, errorBody('BLOB_UNKNOWN', 'blob unknown to registry'))),
  ];
  const manifest = (match: string, source: string, mediaType: string, digest: string, extra: string[] = []) =>
    location(match, [
      source,
      ...SAFE,
      `types { } default_type "${mediaType}";`,
      `add_header Docker-Content-Digest "${digest}";`,
      ...extra,
    ]);
  const byDigest = new Map<string, string>();
  const blobs = new Map<string, string>();
  for (const tag of tags) {
    const { top, children, blobs: tagBlobs } = tag.layout;
    parts.push(
      manifest(`= "${api}/manifests/${tag.tag}"`, file(tag, 'manifest.json'), top.mediaType, top.digest, [
        'error_page 404 @404_tag;',
      ]),
    );
    // A digest is served once, from the first tag that has it; an index's children by digest only.
    for (const entry of [top, ...children]) {
      if (byDigest.has(entry.digest)) continue;
      const fileName = entry === top ? 'manifest.json' : `${digestHex(entry.digest)}.manifest.json`;
      byDigest.set(
        entry.digest,
        manifest(`= "${api}/manifests/${entry.digest}"`, file(tag, fileName), entry.mediaType, entry.digest),
      );
    }
    for (const digest of tagBlobs.keys()) {
      if (blobs.has(digest)) continue;
      blobs.set(
        digest,
        location(`= "${api}/blobs/${digest}"`, [
          file(tag, digestHex(digest)),
          ...SAFE,
          'types { } default_type "application/octet-stream";',
          `add_header Docker-Content-Digest "${digest}";`,
        ]),
      );
    }
  }
  const sorted = (map: Map<string, string>) =>
    [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, text]) => text);
  return [...parts, ...sorted(byDigest), ...sorted(blobs)];
}

/** The nginx configuration for `images` (from findImages), deterministic for the same input. */
export function registryConfig(images: readonly ImageTag[], options: RegistryConfigOptions): string {
  const constants = options.constants ?? 'include';
  const parts = constants === 'omit' ? [] : [CONSTANTS];
  if (constants !== 'only') {
    const prefix = quotable(normalizePrefix(options.namePrefix), 'name prefix');
    const serverRoot = quotable(options.serverRoot.replace(/\/+$/, ''), 'server root');
    const byName = new Map<string, ImageTag[]>();
    for (const image of images) checkNames(image);
    for (const image of images) byName.set(image.name, [...(byName.get(image.name) ?? []), image]);
    for (const name of [...byName.keys()].sort()) {
      const tags = byName
        .get(name)!
        .slice()
        .sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
      parts.push(...imageLocations(name, tags, prefix, serverRoot));
    }
  }
  return parts.join('');
}
