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
  return clean.slice(0, JOLIET_MAX - ext.length - suffix.length) + suffix + ext;
}

/**
 * Gives each entry of one directory its ISO 9660 and Joliet identifiers. Entries are taken in
 * the order given (sorted by real name by the caller), so the same directory always gets the
 * same identifiers. Files get the `;1` version in ISO 9660 only.
 */
export function assignIdentifiers(entries: readonly { name: string; directory: boolean }[]): { iso: string; joliet: string }[] {
  const usedIso = new Set<string>();
  const usedJoliet = new Set<string>();
  return entries.map(({ name, directory }) => {
    let iso = '';
    for (let counter = 0; ; counter++) {
      iso = isoCandidate(name, directory, counter);
      if (!usedIso.has(iso)) break;
    }
    usedIso.add(iso);
    let joliet = '';
    for (let counter = 0; ; counter++) {
      joliet = jolietCandidate(name, counter);
      if (!usedJoliet.has(joliet)) break;
    }
    usedJoliet.add(joliet);
    return { iso: directory ? iso : `${iso};1`, joliet };
  });
}

/** ECMA-119 9.3 order: by name then extension; with unique d-character names, code point order. */
export function compareIso(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Joliet order: by the UCS-2 code units, which is JavaScript's string order. */
export const compareJoliet = compareIso;
