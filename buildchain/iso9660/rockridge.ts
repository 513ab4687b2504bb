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
const RRIP_SOURCE = 'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

/** ER: which extension the entries follow. */
export function er(): Buffer {
  const head = Buffer.from([RRIP_ID.length, RRIP_DESCRIPTOR.length, RRIP_SOURCE.length, 1]);
  return entry('ER', Buffer.concat([head, Buffer.from(RRIP_ID + RRIP_DESCRIPTOR + RRIP_SOURCE, 'latin1')]));
}

/** RR (RRIP 1.09, still read by some tools): which RRIP entries follow. */
export function rr(flags: { px?: boolean; pn?: boolean; sl?: boolean; nm?: boolean; tf?: boolean }): Buffer {
  const bits = (flags.px ? 1 : 0) | (flags.pn ? 2 : 0) | (flags.sl ? 4 : 0) | (flags.nm ? 8 : 0) | (flags.tf ? 0x80 : 0);
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

/** NM entries carrying `name` (UTF-8), split with the CONTINUE flag when longer than one entry. */
export function nm(name: string): Buffer[] {
  const bytes = Buffer.from(name, 'utf8');
  const room = NM_ROOM;
  const out: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += room) {
    const part = bytes.subarray(start, start + room);
    const more = start + room < bytes.length;
    out.push(entry('NM', Buffer.concat([Buffer.from([more ? 1 : 0]), part])));
  }
  return out;
}

/**
 * SL entries for a symlink target. When the target needs several entries, each entry ends inside
 * a component (split with the component CONTINUE flag), never between two: libarchive starts
 * every entry without a separator while the kernel and libisofs add one between whole
 * components, and only a split component reads the same in both. For the same reason "." and
 * ".." are written as text, which can be split, rather than as flag-only components.
 */
export function sl(target: string): Buffer[] {
  const absolute = target.startsWith('/');
  const parts = target.split('/').filter((part) => part !== '').map((part) => Buffer.from(part, 'utf8'));
  const entries: Buffer[] = [];
  let components: Buffer[] = absolute ? [Buffer.from([0x08, 0])] : []; // ROOT
  let room = MAX_ENTRY - 5 - (absolute ? 2 : 0);
  const flush = (more: boolean): void => {
    entries.push(entry('SL', Buffer.concat([Buffer.from([more ? 1 : 0]), ...components])));
    components = [];
    room = MAX_ENTRY - 5;
  };
  for (let rest of parts) {
    while (rest.length + 2 > room) {
      if (room < 3) {
        flush(true); // no room left even for a piece: the only boundary between whole components
        continue;
      }
      const piece = rest.subarray(0, room - 2);
      components.push(Buffer.concat([Buffer.from([0x01, piece.length]), piece]));
      rest = rest.subarray(piece.length);
      flush(true);
    }
    components.push(Buffer.concat([Buffer.from([0, rest.length]), rest]));
    room -= rest.length + 2;
  }
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
  const out: number[] = [];
  for (let start = 0; start < bytes; start += NM_ROOM) out.push(5 + Math.min(NM_ROOM, bytes - start));
  return out;
}
