// The container images a Salt formula names, read from its files as written (Jinja not rendered),
// and whether an ISO serves each: the check that no state deploys a pod whose image the ISO lacks
// (a StatefulSet in ImagePullBackOff on an air-gapped cluster). The forms read are those MetalK8s'
// formula uses: `build_image_name('name')` (the version comes from versions.json), the same with
// `False` followed by `:tag` (raw text after the call), `baseImage:` or `repository:` with a
// `version:` or `tag:` beside it in the same mapping (the Prometheus Operator's resources, Helm
// values), `repo.images['name']` lookups, and literal `image: registry/repository:tag` values.
import { open } from 'node:fs/promises';
import { BuildError } from '../errors.ts';
import { parseReference } from '../oci/reference.ts';

export interface NamedImage {
  /** `file:line` of the call or key that gives the tag (or of the name when none does). */
  where: string;
  /**
   * `registry`: a name of the ISO's registry (build_image_name), `tag` unset when the version is
   * versions.json's; `declared`: a name versions.json must hold; `literal`: a full reference.
   */
  kind: 'registry' | 'declared' | 'literal';
  name: string;
  tag?: string;
}

export interface IsoImages {
  /** The first component of the ISO registry's names (the saltenv): `metalk8s-2.4.1`. */
  prefix: string;
  /** Images the ISO's registry serves, as `<prefix>/<name>:<version>`. */
  served: readonly { name: string; version: string }[];
  /** Images imported on nodes from archives, under their source reference (`k8s.gcr.io/pause`). */
  imported: readonly { name: string; reference: string; version: string }[];
}

/** Formula files that may name images: states, templates, manifests. */
export const SCANNED_FILE = /\.(?:sls|j2|jinja|ya?ml)$/;
/** A formula file is text of a few megabytes (the Prometheus Operator's chart: 1.5 MB). */
const MAX_FILE_BYTES = 16 << 20;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const CALL =
  /build_image_name\(\s*(?:name\s*=\s*)?(['"])([A-Za-z0-9._-]+)\1\s*(?:,\s*(?:include_tag\s*=\s*)?(True|False|true|false))?\s*\)/g;
/** After `build_image_name('x', False)`: the end of the expression, an optional `{% raw %}`, then `:tag`. */
const TAG_AFTER = /^\s*\}\}(?:\s*\{%-?\s*raw\s*-?%\})?\s*:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})/;
const LOOKUP = /repo\.images(?:\[\s*|\.get\(\s*)(['"])([A-Za-z0-9._-]+)\1/g;
const KEY_LINE = /^(\s*)(?:-\s+)?([A-Za-z_][\w.-]*):(?:\s+(.*))?$/;
/** Which sibling keys give the tag of a name-only value, by its key (a tag wins over a version). */
const TAG_KEYS: Readonly<Record<string, readonly string[]>> = { baseImage: ['tag', 'version'], repository: ['tag'] };

/** Reads a formula file, bounded: one larger than any formula's is an error naming it. */
export async function readFormulaFile(path: string): Promise<string> {
  const handle = await open(path);
  try {
    const { size } = await handle.stat();
    if (size > MAX_FILE_BYTES)
      throw new BuildError(`${path}: ${size} bytes, more than the ${MAX_FILE_BYTES} a Salt formula file may have`);
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Comments blanked, lines kept: `{# ... #}` and YAML comment lines name no image. */
function withoutComments(text: string): string {
  const blank = (match: string) => match.replace(/[^\n]/g, ' ');
  return text.replace(/\{#[\s\S]*?#\}/g, blank).replace(/^[ \t]*#(?!!).*$/gm, blank);
}

/** The images named in `text`, the file `file` (as messages name it). */
export function namedImages(text: string, file: string): NamedImage[] {
  const source = withoutComments(text);
  const lines = source.split('\n');
  const starts = [0];
  for (const line of lines) starts.push(starts.at(-1)! + line.length + 1);
  const lineAt = (index: number) => {
    let low = 0;
    let high = lines.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (starts[mid]! <= index) low = mid;
      else high = mid - 1;
    }
    return low;
  };
  const at = (line: number) => `${file}:${line + 1}`;
  const found: NamedImage[] = [];
  for (const match of source.matchAll(CALL)) {
    const name = match[2]!;
    const line = lineAt(match.index);
    if (!/^f/i.test(match[3] ?? 'True')) {
      found.push({ where: at(line), kind: 'registry', name });
      continue;
    }
    const after = TAG_AFTER.exec(source.slice(match.index + match[0].length, match.index + match[0].length + 256));
    const sibling = after ? undefined : siblingTag(lines, line);
    const tag = after?.[1] ?? sibling?.tag;
    found.push({ where: at(sibling?.line ?? line), kind: 'registry', name, ...(tag ? { tag } : {}) });
  }
  for (const match of source.matchAll(LOOKUP))
    found.push({ where: at(lineAt(match.index)), kind: 'declared', name: match[2]! });
  for (const [index, line] of lines.entries()) {
    const key = KEY_LINE.exec(line);
    if (!key || !(key[2] === 'image' || key[2] === 'repository')) continue;
    const value = scalar(key[3]);
    if (!value || value.includes('{') || !value.includes('/')) continue;
    const sibling = key[2] === 'repository' ? siblingTag(lines, index) : undefined;
    const reference = sibling ? `${value}:${sibling.tag}` : value;
    try {
      const parsed = parseReference(reference);
      if (!parsed.tag) continue;
      found.push({
        where: at(sibling?.line ?? index),
        kind: 'literal',
        name: `${parsed.registry}/${parsed.repository}`,
        tag: parsed.tag,
      });
    } catch {
      // Not an image reference (a description, a path): nothing to check.
    }
  }
  return found;
}

/** A YAML scalar as written on its key's line: quotes removed; undefined for none. */
function scalar(text: string | undefined): string | undefined {
  const value = text?.replace(/\s+#.*$/, '').trim();
  if (!value) return undefined;
  const quoted = /^(['"])(.*)\1$/.exec(value);
  return quoted ? quoted[2] : value;
}

/**
 * The tag given beside a name-only value on line `index` (`baseImage:` and `version:` in one
 * mapping): a key of TAG_KEYS at the same indentation, before or after it, within that mapping.
 */
function siblingTag(lines: readonly string[], index: number): { tag: string; line: number } | undefined {
  const own = KEY_LINE.exec(lines[index]!);
  const keys = own ? TAG_KEYS[own[2]!] : undefined;
  if (!own || !keys) return undefined;
  const indent = own[1]!.length;
  const found = new Map<string, { tag: string; line: number }>();
  for (const step of [-1, 1]) {
    for (let i = index + step; i >= 0 && i < lines.length; i += step) {
      const line = lines[i]!;
      if (line.trim() === '') continue;
      const depth = line.length - line.trimStart().length;
      if (/^(?:---|\.\.\.)\s*$/.test(line) || depth < indent) break;
      const key = depth === indent ? KEY_LINE.exec(line) : null;
      const value = key ? scalar(key[3]) : undefined;
      if (key && keys.includes(key[2]!) && value && TAG.test(value) && !found.has(key[2]!))
        found.set(key[2]!, { tag: value, line: i });
    }
  }
  return keys.map((key) => found.get(key)).find((entry) => entry !== undefined);
}

/** The images of `named` that `iso` does not serve, each with why. */
export function missingImages(named: readonly NamedImage[], iso: IsoImages): { image: NamedImage; why: string }[] {
  const versionsOf = (list: readonly { version: string }[]) => list.map((entry) => entry.version);
  const servedAs = (name: string) => versionsOf(iso.served.filter((entry) => entry.name === name));
  const archived = (match: (entry: IsoImages['imported'][number]) => boolean) => iso.imported.filter(match);
  const listed = (name: string, versions: string[]) => versions.map((version) => `${name}:${version}`).join(', ');
  const missing: { image: NamedImage; why: string }[] = [];
  for (const image of named) {
    if (image.kind === 'declared') {
      if (servedAs(image.name).length === 0 && archived((entry) => entry.name === image.name).length === 0)
        missing.push({ image, why: `${image.name}: no image of that name in the ISO (nor in versions.json)` });
      continue;
    }
    let name = image.name;
    if (image.kind === 'literal') {
      const imports = archived((entry) => entry.reference === name);
      if (versionsOf(imports).includes(image.tag!)) continue;
      const [prefix, ...rest] = (/^[^/]+\/(.*)$/.exec(name)?.[1] ?? '').split('/');
      if (prefix !== iso.prefix || rest.length !== 1) {
        missing.push({
          image,
          why: `${name}:${image.tag}: not in the ISO (its registry serves ${iso.prefix}/<name>:<version>; archives are imported under their source reference)${imports.length > 0 ? ` (it imports ${listed(name, versionsOf(imports))})` : ''}`,
        });
        continue;
      }
      name = rest[0]!;
    }
    const versions = servedAs(name);
    const tagged = `${name}${image.tag ? `:${image.tag}` : ''}`;
    if (versions.length === 0) {
      const imports = archived((entry) => entry.name === name);
      missing.push({
        image,
        why: `${tagged}: the ISO's registry serves no image of that name${imports.length > 0 ? ' (it is imported from an archive, not served)' : ''}`,
      });
    } else if (image.tag && !versions.includes(image.tag)) {
      missing.push({ image, why: `${tagged} (the ISO has ${listed(name, versions)})` });
    }
  }
  return missing;
}
