// Rock Ridge (RRIP 1.10 over SUSP 1.10) entries: the POSIX view of our ISOs (real UTF-8 names,
// modes, uid/gid 0, timestamps, symlinks, device numbers). Each entry is
// [signature(2), length(1), version(1), data...] and at most 255 bytes.
import { putBoth32, putRecordDate } from './ecma119.ts';

const MAX_ENTRY = 255;

function entry(signature: string, data: Buffer): Buffer {
  const out = Buffer.alloc(4 + data.length);
  out.write(signature, 0, 'latin1');
  out[2] = out.length;
  out[3] = 1;
  data.copy(out, 4);
  return out;
}

// The standard identification strings of RRIP 1.10, as every writer records them.
const RRIP_ID = 'RRIP_1991A';
const RRIP_DESCRIPTOR = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RRIP_SOURCE =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

/** SP: "SUSP is used", first entry of the root's "." record. */
const SP_BYTES = entry('SP', Buffer.from([0xbe, 0xef, 0]));

/** ER: which extension the entries follow. */
const ER_BYTES = entry(
  'ER',
  Buffer.concat([
    Buffer.from([RRIP_ID.length, RRIP_DESCRIPTOR.length, RRIP_SOURCE.length, 1]),
    Buffer.from(RRIP_ID + RRIP_DESCRIPTOR + RRIP_SOURCE, 'latin1'),
  ]),
);

/** CE: the rest of the entries is at block + offset, length bytes (both-endian each). */
export const CE_LENGTH = 28;
/** RR (RRIP 1.09, still read by some tools): a flags byte saying which RRIP entries follow. */
export const RR_LENGTH = 5;
/** PX: mode, links, uid, gid, both-endian each. */
export const PX_LENGTH = 36;
/** TF: modification, access and attribute-change times, all the same. */
export const TF_LENGTH = 26;
/** PN: a device's number, high and low 32 bits, both-endian each. */
export const PN_LENGTH = 20;

/** Room for a name's bytes in one NM entry. */
const NM_ROOM = MAX_ENTRY - 5;

/** `length`, or less so that `bytes[length]` starts a UTF-8 character: pieces never cut one. */
function characterBoundary(bytes: Buffer, length: number): number {
  let at = Math.min(length, bytes.length);
  while (at > 0 && at < bytes.length && (bytes[at]! & 0xc0) === 0x80) at--;
  return at;
}

const SL_CONTINUE = 0x01;
const SL_ROOT = 0x08;

/**
 * The Rock Ridge entries of one record, put one after the other into one buffer that is reused
 * from record to record: the planner measures them, the writer copies them into the record and
 * its continuation chunks. Making them here, byte by byte, rather than a Buffer per entry and a
 * concat per record, is what keeps a small tree's metadata cheap while Node's compilers have not
 * warmed up yet; and planning and writing cannot disagree on a length, since both make the same
 * bytes. `ends[k]` is where entry k ends; entries from `continuedFrom` on go to a chunk.
 */
export class SystemUse {
  bytes = Buffer.alloc(16 << 10);
  readonly ends: number[] = [];
  length = 0;
  continuedFrom = Number.POSITIVE_INFINITY;
  /** The UTF-8 bytes of a symlink target or a long name, while it is cut into entries. */
  private text = Buffer.alloc(4096);

  reset(): void {
    this.ends.length = 0;
    this.length = 0;
    this.continuedFrom = Number.POSITIVE_INFINITY;
  }

  /** Entries from here on go to a continuation chunk (the root's ER). */
  continueHere(): void {
    this.continuedFrom = this.ends.length;
  }

  private head(signature0: number, signature1: number, length: number): number {
    const at = this.length;
    const b = this.bytes;
    b[at] = signature0;
    b[at + 1] = signature1;
    b[at + 2] = length;
    b[at + 3] = 1;
    this.length = at + length;
    this.ends.push(this.length);
    return at;
  }

  sp(): void {
    SP_BYTES.copy(this.bytes, this.length);
    this.length += SP_BYTES.length;
    this.ends.push(this.length);
  }

  er(): void {
    ER_BYTES.copy(this.bytes, this.length);
    this.length += ER_BYTES.length;
    this.ends.push(this.length);
  }

  /** RR with its flags byte: 1 PX, 2 PN, 4 SL, 8 NM, 0x80 TF. */
  rr(bits: number): void {
    const at = this.head(0x52, 0x52, RR_LENGTH);
    this.bytes[at + 4] = bits;
  }

  px(mode: number, links: number): void {
    const at = this.head(0x50, 0x58, PX_LENGTH);
    const b = this.bytes;
    putBoth32(b, at + 4, mode);
    putBoth32(b, at + 12, links);
    b.fill(0, at + 20, at + 36); // uid and gid 0
  }

  tf(seconds: number): void {
    const at = this.head(0x54, 0x46, TF_LENGTH);
    const b = this.bytes;
    b[at + 4] = 0x0e;
    putRecordDate(b, at + 5, seconds);
    // The same date twice more, byte by byte: seven bytes cost less than a call to copy().
    for (let k = at + 5; k < at + 12; k++) b[k + 7] = b[k + 14] = b[k]!;
  }

  pn(rdev: number): void {
    const at = this.head(0x50, 0x4e, PN_LENGTH);
    putBoth32(this.bytes, at + 4, Math.floor(rdev / 2 ** 32));
    putBoth32(this.bytes, at + 12, rdev >>> 0);
  }

  /** NM entries of `name` (UTF-8), split with the CONTINUE flag when longer than one entry. */
  nm(name: string): void {
    const at = this.length;
    // A name is at most 255 bytes (NAME_MAX): it fits the room left here, which room() keeps.
    this.room(1024);
    const length = this.bytes.write(name, at + 5, 'utf8');
    if (length <= NM_ROOM) {
      this.head(0x4e, 0x4d, 5 + length);
      this.bytes[at + 4] = 0;
      return;
    }
    const text = this.textOf(name);
    for (let start = 0; start < length; ) {
      const piece = characterBoundary(text.subarray(start, length), NM_ROOM);
      const entryAt = this.head(0x4e, 0x4d, 5 + piece);
      this.bytes[entryAt + 4] = start + piece < length ? 1 : 0;
      text.copy(this.bytes, entryAt + 5, start, start + piece);
      start += piece;
    }
  }

  /**
   * SL entries for a symlink target. When the target needs several entries, each entry ends
   * inside a component (split with the component CONTINUE flag), never between two: libarchive
   * starts every entry without a separator while the kernel and libisofs add one between whole
   * components, and only a split component reads the same in both. So a whole component is put
   * in an entry only if a piece of the next one still fits after it. Pieces never cut a UTF-8
   * character. "." and ".." are written as text, which can be split, rather than as flag-only
   * components.
   */
  sl(target: string): void {
    const text = this.textOf(target);
    const length = Buffer.byteLength(target, 'utf8');
    this.room(3 * length + 1024);
    const b = this.bytes;
    const absolute = length > 0 && text[0] === 0x2f;
    let entry = this.length;
    let at = entry + 5;
    if (absolute) {
      b[at] = SL_ROOT;
      b[at + 1] = 0;
      at += 2;
    }
    let room = MAX_ENTRY - 5 - (absolute ? 2 : 0);
    const flush = (more: boolean): void => {
      b[entry] = 0x53;
      b[entry + 1] = 0x4c;
      b[entry + 2] = at - entry;
      b[entry + 3] = 1;
      b[entry + 4] = more ? 1 : 0;
      this.length = at;
      this.ends.push(at);
      entry = at;
      at = entry + 5;
      room = MAX_ENTRY - 5;
    };
    const component = (flags: number, start: number, bytes: number): void => {
      b[at] = flags;
      b[at + 1] = bytes;
      text.copy(b, at + 2, start, start + bytes);
      at += 2 + bytes;
      room -= bytes + 2;
    };
    // The parts between slashes, empty ones dropped; a slash byte is never inside a UTF-8 character.
    let part = 0;
    while (part < length && text[part] === 0x2f) part++;
    while (part < length) {
      let end = part;
      while (end < length && text[end] !== 0x2f) end++;
      let next = end;
      while (next < length && text[next] === 0x2f) next++;
      const last = next >= length;
      let rest = part;
      let restLength = end - part;
      // A whole component, when what is left after it still holds a piece of the next one.
      while (!(restLength + 2 <= room && (last || room - restLength - 2 >= 3))) {
        // As much as fits, keeping a byte for the next entry; possibly nothing (a lone byte or
        // character left at the end of an entry): an empty piece continued in the next entry.
        const piece = characterBoundary(text.subarray(rest, end), Math.max(0, Math.min(restLength - 1, room - 2)));
        component(SL_CONTINUE, rest, piece);
        rest += piece;
        restLength -= piece;
        flush(true);
      }
      component(0, rest, restLength);
      part = next;
    }
    flush(false);
  }

  /** `text` as UTF-8 in the text buffer, grown as needed. */
  private textOf(text: string): Buffer {
    const length = Buffer.byteLength(text, 'utf8');
    if (length > this.text.length) this.text = Buffer.alloc(2 * length);
    this.text.write(text, 0, 'utf8');
    return this.text;
  }

  /** At least `bytes` free after the entries made so far. */
  private room(bytes: number): void {
    if (this.length + bytes <= this.bytes.length) return;
    const grown = Buffer.alloc(2 * (this.length + bytes));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }
}
