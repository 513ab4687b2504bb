// Identifiers of the three name spaces of our ISOs: ISO 9660 (level 3, d-characters, at most 31
// characters like mkisofs -full-iso9660-filenames), Joliet (UCS-2, at most 103 characters like
// -joliet-long) and Rock Ridge (the real UTF-8 name, in NM entries). Only Rock Ridge carries the
// real name; the other two are derived, made unique per directory in a deterministic way.

const ISO_MAX = 31;
export const JOLIET_MAX = 103;

/** Characters Joliet forbids in a name: replaced, as mkisofs does. */
const JOLIET_FORBIDDEN = /[\u0000-\u001f*/:;?\\]/g;

function isoClean(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/** ISO 9660 identifier without version: `NAME.EXT` for files, `NAME` for directories. */
function isoCandidate(name: string, directory: boolean, counter: number): string {
  const suffix = counter === 0 ? '' : `_${counter}`;
  if (directory) return isoClean(name).slice(0, ISO_MAX - suffix.length) + suffix;
  const dot = name.lastIndexOf('.');
  const base = isoClean(dot > 0 ? name.slice(0, dot) : name);
  const ext = dot > 0 ? isoClean(name.slice(dot + 1)).slice(0, 8) : '';
  const room = ISO_MAX - 1 - ext.length - suffix.length;
  return `${base.slice(0, Math.max(1, room))}${suffix}.${ext}`;
}

function jolietCandidate(name: string, counter: number): string {
  const clean = name.replace(JOLIET_FORBIDDEN, '_');
  const suffix = counter === 0 ? '' : `~${counter}`;
  if (clean.length + suffix.length <= JOLIET_MAX) return clean + suffix;
  const dot = clean.lastIndexOf('.');
  const ext = dot > 0 && clean.length - dot <= 16 ? clean.slice(dot) : '';
  return cutUcs2(clean, JOLIET_MAX - ext.length - suffix.length) + suffix + ext;
}

/** The first `length` UTF-16 units of `text`, one fewer rather than half of a surrogate pair. */
function cutUcs2(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}

/**
 * The first free candidate: `next` remembers, per counter-0 candidate, where the search ended,
 * so thousands of names sharing a long prefix cost one look-up each instead of thousands.
 */
function firstFree(candidate: (counter: number) => string, used: Set<string>, next: Map<string, number>): string {
  const key = candidate(0);
  for (let counter = next.get(key) ?? 0; ; counter++) {
    const text = counter === 0 ? key : candidate(counter);
    if (!used.has(text)) {
      used.add(text);
      next.set(key, counter + 1);
      return text;
    }
  }
}

/**
 * Gives the entries of one directory their ISO 9660 and Joliet identifiers, one after the other.
 * Entries are taken in the order given (sorted by real name by the caller), so the same
 * directory always gets the same identifiers. Files get the `;1` version in ISO 9660 only.
 */
export class IdentifierAssigner {
  private readonly usedIso = new Set<string>();
  private readonly usedJoliet = new Set<string>();
  private readonly nextIso = new Map<string, number>();
  private readonly nextJoliet = new Map<string, number>();

  /** The ISO 9660 identifier of the next entry. */
  iso(name: string, directory: boolean): string {
    const iso = firstFree((counter) => isoCandidate(name, directory, counter), this.usedIso, this.nextIso);
    return directory ? iso : `${iso};1`;
  }

  /** The Joliet identifier of the next entry: the same string as the real name when nothing changed (one copy in memory, not two). */
  joliet(name: string): string {
    const joliet = firstFree((counter) => jolietCandidate(name, counter), this.usedJoliet, this.nextJoliet);
    return joliet === name ? name : joliet;
  }
}

/** ECMA-119 9.3 order: by name then extension; with unique d-character names, code point order. */
export function compareIso(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Joliet order: by the UCS-2 code units, which is JavaScript's string order. */
export const compareJoliet = compareIso;
