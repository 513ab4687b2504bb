// RPM version comparison, as rpm and yum order packages: rpmvercmp on each of epoch, version and
// release, and rpm's rule for whether a provided version range satisfies a required one.

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined) => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));

/**
 * rpm's rpmvercmp: -1, 0 or 1. Strings split into runs of digits and of letters (anything else
 * separates them); digit runs compare as numbers and beat letter runs; `~` sorts before anything
 * (even the end of the string: 1.0~rc1 < 1.0), `^` after the end but before anything else.
 */
export function rpmvercmp(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isDigit(a[i]) && !isAlpha(a[i]) && a[i] !== '~' && a[i] !== '^') i += 1;
    while (j < b.length && !isDigit(b[j]) && !isAlpha(b[j]) && b[j] !== '~' && b[j] !== '^') j += 1;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i += 1;
      j += 1;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i += 1;
      j += 1;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = isDigit(a[i]);
    const kind = numeric ? isDigit : isAlpha;
    let endA = i;
    let endB = j;
    while (endA < a.length && kind(a[endA])) endA += 1;
    while (endB < b.length && kind(b[endB])) endB += 1;
    // A digit run against a letter run: the number is newer.
    if (endB === j) return numeric ? 1 : -1;
    let segA = a.slice(i, endA);
    let segB = b.slice(j, endB);
    if (numeric) {
      segA = segA.replace(/^0+/, '');
      segB = segB.replace(/^0+/, '');
      if (segA.length !== segB.length) return segA.length > segB.length ? 1 : -1;
    }
    if (segA !== segB) return segA < segB ? -1 : 1;
    i = endA;
    j = endB;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

export interface Evr {
  epoch?: string | undefined;
  version: string;
  release?: string | undefined;
}

/** Orders two epoch:version-release; a missing epoch is 0, a missing release compares equal. */
export function compareEvr(a: Evr, b: Evr): -1 | 0 | 1 {
  const epoch = rpmvercmp(a.epoch || '0', b.epoch || '0');
  if (epoch !== 0) return epoch;
  const version = rpmvercmp(a.version, b.version);
  if (version !== 0) return version;
  if (a.release === undefined || b.release === undefined || a.release === '' || b.release === '') return 0;
  return rpmvercmp(a.release, b.release);
}

export function formatEvr(evr: Evr): string {
  return `${evr.epoch && evr.epoch !== '0' ? `${evr.epoch}:` : ''}${evr.version}${evr.release ? `-${evr.release}` : ''}`;
}

/** `[epoch:]version[-release]`. */
export function parseEvr(text: string): Evr {
  const colon = text.indexOf(':');
  const epoch = colon >= 0 ? text.slice(0, colon) : undefined;
  const rest = colon >= 0 ? text.slice(colon + 1) : text;
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) } : { epoch, version: rest };
}

export type Flags = 'EQ' | 'LT' | 'LE' | 'GT' | 'GE';

/** A versioned capability: what a package provides or requires. No flags: any version. */
export interface Capability {
  name: string;
  flags?: Flags | undefined;
  evr?: Evr | undefined;
}

const LESS = (flags: Flags) => flags === 'LT' || flags === 'LE';
const GREATER = (flags: Flags) => flags === 'GT' || flags === 'GE';
const EQUAL = (flags: Flags) => flags === 'EQ' || flags === 'LE' || flags === 'GE';

/** rpm's range overlap: does `provide` satisfy `require` (same name assumed)? */
export function satisfies(provide: Capability, require: Capability): boolean {
  if (!provide.flags || !require.flags || !provide.evr || !require.evr) return true;
  const sense = compareEvr(provide.evr, require.evr);
  if (sense < 0) return GREATER(provide.flags) || LESS(require.flags);
  if (sense > 0) return LESS(provide.flags) || GREATER(require.flags);
  return (
    (EQUAL(provide.flags) && EQUAL(require.flags)) ||
    (LESS(provide.flags) && LESS(require.flags)) ||
    (GREATER(provide.flags) && GREATER(require.flags))
  );
}

const SYMBOLS: Record<Flags, string> = { EQ: '=', LT: '<', LE: '<=', GT: '>', GE: '>=' };

export function formatCapability(capability: Capability): string {
  return capability.flags && capability.evr
    ? `${capability.name} ${SYMBOLS[capability.flags]} ${formatEvr(capability.evr)}`
    : capability.name;
}
