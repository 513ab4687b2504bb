// Rock Ridge (RRIP 1.10 over SUSP 1.10) entries: the POSIX view of our ISOs (real UTF-8 names,
// modes, uid/gid 0, timestamps, symlinks, device numbers). Each entry is
// [signature(2), length(1), version(1), data...] and at most 255 bytes.
import { bothEndian32, recordDate, zeroed } from './ecma119.ts';

const MAX_ENTRY = 255;

function entry(signature: string, data: Buffer): Buffer {
  const out = zeroed(4 + data.length);
  out.write(signature, 0, 'latin1');
  out[2] = out.length;
  out[3] = 1;
  data.copy(out, 4);
  return out;
}

/** SP: "SUSP is used", first entry of the root's "." record. */
export function sp(): Buffer {
  return entry('SP', Buffer.from([0xbe, 0xef, 0]));
}

/** CE: the rest of the entries is at `block`+`offset`, `length` bytes. */
export function ce(block: number, offset: number, length: number): Buffer {
  const data = zeroed(24);
  bothEndian32(data, 0, block);
  bothEndian32(data, 8, offset);
  bothEndian32(data, 16, length);
  return entry('CE', data);
}
export const CE_LENGTH = 28;

// The standard identification strings of RRIP 1.10, as every writer records them.
const RRIP_ID = 'RRIP_1991A';
const RRIP_DESCRIPTOR = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RRIP_SOURCE =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

/** ER: which extension the entries follow. */
export function er(): Buffer {
  const head = Buffer.from([RRIP_ID.length, RRIP_DESCRIPTOR.length, RRIP_SOURCE.length, 1]);
  return entry('ER', Buffer.concat([head, Buffer.from(RRIP_ID + RRIP_DESCRIPTOR + RRIP_SOURCE, 'latin1')]));
}

/** RR (RRIP 1.09, still read by some tools): which RRIP entries follow. */
export function rr(flags: { px?: boolean; pn?: boolean; sl?: boolean; nm?: boolean; tf?: boolean }): Buffer {
  const bits =
    (flags.px ? 1 : 0) | (flags.pn ? 2 : 0) | (flags.sl ? 4 : 0) | (flags.nm ? 8 : 0) | (flags.tf ? 0x80 : 0);
  return entry('RR', Buffer.from([bits]));
}

export function px(mode: number, links: number, uid = 0, gid = 0): Buffer {
  const data = zeroed(32);
  bothEndian32(data, 0, mode);
  bothEndian32(data, 8, links);
  bothEndian32(data, 16, uid);
  bothEndian32(data, 24, gid);
  return entry('PX', data);
}

/** TF with modification, access and attribute-change times, all set to `seconds`. */
export function tf(seconds: number): Buffer {
  const date = recordDate(seconds);
  return entry('TF', Buffer.concat([Buffer.from([0x0e]), date, date, date]));
}

export function pn(rdev: number): Buffer {
  const data = zeroed(16);
  bothEndian32(data, 0, Math.floor(rdev / 2 ** 32));
  bothEndian32(data, 8, rdev >>> 0);
  return entry('PN', data);
}

/** Room for a name's bytes in one NM entry. */
const NM_ROOM = MAX_ENTRY - 5;

/** `length`, or less so that `bytes[length]` starts a UTF-8 character: pieces never cut one. */
function characterBoundary(bytes: Buffer, length: number): number {
  let at = Math.min(length, bytes.length);
  while (at > 0 && at < bytes.length && (bytes[at]! & 0xc0) === 0x80) at--;
  return at;
}

/** Where a name's bytes are cut between NM entries. */
function nmPieces(bytes: Buffer): number[] {
  const pieces: number[] = [];
  for (let start = 0; start < bytes.length; ) {
    const length = characterBoundary(bytes.subarray(start), NM_ROOM);
    pieces.push(length);
    start += length;
  }
  return pieces;
}

/** NM entries carrying `name` (UTF-8), split with the CONTINUE flag when longer than one entry. */
export function nm(name: string): Buffer[] {
  const bytes = Buffer.from(name, 'utf8');
  const pieces = nmPieces(bytes);
  let start = 0;
  return pieces.map((length, i) => {
    const part = bytes.subarray(start, start + length);
    start += length;
    return entry('NM', Buffer.concat([Buffer.from([i < pieces.length - 1 ? 1 : 0]), part]));
  });
}

const SL_CONTINUE = 0x01;
const SL_ROOT = 0x08;

/**
 * SL entries for a symlink target. When the target needs several entries, each entry ends inside
 * a component (split with the component CONTINUE flag), never between two: libarchive starts
 * every entry without a separator while the kernel and libisofs add one between whole
 * components, and only a split component reads the same in both. So a whole component is put
 * in an entry only if a piece of the next one still fits after it. Pieces never cut a UTF-8
 * character. "." and ".." are written as text, which can be split, rather than as flag-only
 * components.
 */
export function sl(target: string): Buffer[] {
  const absolute = target.startsWith('/');
  const parts = target
    .split('/')
    .filter((part) => part !== '')
    .map((part) => Buffer.from(part, 'utf8'));
  const entries: Buffer[] = [];
  let components: Buffer[] = absolute ? [Buffer.from([SL_ROOT, 0])] : [];
  let room = MAX_ENTRY - 5 - (absolute ? 2 : 0);
  const component = (flags: number, bytes: Buffer): void => {
    components.push(Buffer.concat([Buffer.from([flags, bytes.length]), bytes]));
    room -= bytes.length + 2;
  };
  const flush = (more: boolean): void => {
    entries.push(entry('SL', Buffer.concat([Buffer.from([more ? 1 : 0]), ...components])));
    components = [];
    room = MAX_ENTRY - 5;
  };
  parts.forEach((part, k) => {
    const last = k === parts.length - 1;
    let rest = part;
    // A whole component, when what is left after it still holds a piece of the next one.
    while (!(rest.length + 2 <= room && (last || room - rest.length - 2 >= 3))) {
      // As much as fits, keeping a byte for the next entry; possibly nothing (a lone byte or
      // character left at the end of an entry): an empty piece continued in the next entry.
      const length = characterBoundary(rest, Math.max(0, Math.min(rest.length - 1, room - 2)));
      component(SL_CONTINUE, rest.subarray(0, length));
      rest = rest.subarray(length);
      flush(true);
    }
    component(0, rest);
  });
  flush(false);
  return entries;
}

// Lengths of the entries above without making them: planning a tree of 150,000 names must not
// allocate a buffer per entry. The writer checks that the entries it makes have these lengths.
export const RR_LENGTH = 5;
export const PX_LENGTH = 36;
export const TF_LENGTH = 26;
export const PN_LENGTH = 20;

/** Lengths of the NM entries of `name`, as nm() splits it. */
export function nmLengths(name: string): number[] {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes <= NM_ROOM) return [5 + bytes];
  return nmPieces(Buffer.from(name, 'utf8')).map((length) => 5 + length); // rare: names over 250 bytes
}
