// ECMA-119 (ISO 9660) building blocks: numbers recorded both-endian, dates, padded strings,
// directory records and path table records. Shared by the writer and the reader.

export const SECTOR = 2048;
/** Sectors 0-15 are the system area; volume descriptors start at 16. */
export const FIRST_DESCRIPTOR = 16;
/** A directory record's length fits in one byte. */
export const MAX_RECORD = 255;
/** Largest extent of one directory record: the last whole sector below 4 GiB (0xFFFFF800). */
export const MAX_EXTENT = 2 ** 32 - SECTOR;

export const FLAG_DIRECTORY = 0x02;
export const FLAG_MULTI_EXTENT = 0x80;

/**
 * A zero-filled buffer for the small pieces of metadata (records, entries, fields): taken from
 * Node's shared pool, where Buffer.alloc would make a native allocation for each of the hundreds
 * of thousands of pieces a large tree has.
 */
export function zeroed(length: number): Buffer {
  return Buffer.allocUnsafe(length).fill(0);
}

export function bothEndian32(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value, offset);
  buf.writeUInt32BE(value, offset + 4);
}

export function bothEndian16(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt16LE(value, offset);
  buf.writeUInt16BE(value, offset + 2);
}

/** Puts `value` both-endian (LE then BE, 8 bytes) at `offset`, byte by byte: no call per half. */
export function putBoth32(buf: Buffer, offset: number, value: number): void {
  buf[offset] = buf[offset + 7] = value & 0xff;
  buf[offset + 1] = buf[offset + 6] = (value >>> 8) & 0xff;
  buf[offset + 2] = buf[offset + 5] = (value >>> 16) & 0xff;
  buf[offset + 3] = buf[offset + 4] = (value >>> 24) & 0xff;
}

/** Dates (ms) that JavaScript's Date can hold; outside them Date is invalid and a date is all zeros. */
const MAX_DATE_MS = 8.64e15;

/**
 * Puts the 7-byte date of directory records (and Rock Ridge TF) at `offset`, in UTC: the bytes
 * of recordDate() without a Date object (days to civil date, as H. Hinnant's algorithm).
 */
export function putRecordDate(buf: Buffer, offset: number, seconds: number): void {
  const ms = Math.trunc(seconds * 1000); // as Date's TimeClip
  if (!(Math.abs(ms) <= MAX_DATE_MS)) {
    buf.fill(0, offset, offset + 7);
    return;
  }
  const whole = Math.floor(ms / 1000);
  const days = Math.floor(whole / 86400);
  const inDay = whole - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  buf[offset] = yoe + era * 400 + (month <= 2 ? 1 : 0) - 1900; // stored modulo 256, as recordDate's
  buf[offset + 1] = month;
  buf[offset + 2] = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const hours = Math.floor(inDay / 3600);
  buf[offset + 3] = hours;
  buf[offset + 4] = Math.floor((inDay - hours * 3600) / 60);
  buf[offset + 5] = inDay % 60;
  buf[offset + 6] = 0;
}

/** The 7-byte date of directory records (and Rock Ridge TF), in UTC. */
export function recordDate(seconds: number): Buffer {
  const d = new Date(seconds * 1000);
  return Buffer.from([
    d.getUTCFullYear() - 1900,
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    0,
  ]);
}

export function parseRecordDate(buf: Buffer, offset: number): number {
  const [y, mo, d, h, mi, s] = [...buf.subarray(offset, offset + 6)] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetQuarters = buf.readInt8(offset + 6);
  return Date.UTC(1900 + y, mo - 1, d, h, mi, s) / 1000 - offsetQuarters * 15 * 60;
}

/** The 17-byte date of volume descriptors: "YYYYMMDDHHMMSScc" and a zone byte, in UTC. */
export function volumeDate(seconds: number | undefined): Buffer {
  if (seconds === undefined) return Buffer.concat([Buffer.from('0'.repeat(16), 'ascii'), Buffer.from([0])]);
  const d = new Date(seconds * 1000);
  const two = (n: number): string => String(n).padStart(2, '0');
  const text = `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}00`;
  return Buffer.concat([Buffer.from(text, 'ascii'), Buffer.from([0])]);
}

/** `text` in a fixed field, padded with spaces (ASCII) or UCS-2 spaces (Joliet). */
export function paddedField(text: string, length: number, ucs2: boolean): Buffer {
  const field = zeroed(length);
  if (ucs2) {
    for (let i = 0; i + 1 < length; i += 2) field.writeUInt16BE(0x0020, i);
    encodeUcs2(text.slice(0, Math.floor(length / 2))).copy(field);
  } else {
    field.fill(0x20);
    field.write(text.slice(0, length), 'latin1');
  }
  return field;
}

export function encodeUcs2(text: string): Buffer {
  const buf = zeroed(text.length * 2);
  for (let i = 0; i < text.length; i++) buf.writeUInt16BE(text.charCodeAt(i), i * 2);
  return buf;
}

export function decodeUcs2(buf: Buffer): string {
  let text = '';
  for (let i = 0; i + 1 < buf.length; i += 2) text += String.fromCharCode(buf.readUInt16BE(i));
  return text;
}

const NOTHING = Buffer.alloc(0);

export interface RecordFields {
  extent: number;
  size: number;
  date: Buffer;
  flags: number;
  identifier: Buffer;
  systemUse?: Buffer;
}

/** One directory record; identifiers of even length get a padding byte, as the standard says. */
export function directoryRecord(fields: RecordFields): Buffer {
  const idLength = fields.identifier.length;
  const pad = idLength % 2 === 0 ? 1 : 0;
  const systemUse = fields.systemUse ?? NOTHING;
  const length = 33 + idLength + pad + systemUse.length;
  if (length > MAX_RECORD)
    throw new Error(`directory record of ${length} bytes (identifier ${idLength}, system use ${systemUse.length})`);
  const rec = zeroed(length);
  rec[0] = length;
  bothEndian32(rec, 2, fields.extent);
  bothEndian32(rec, 10, fields.size);
  fields.date.copy(rec, 18);
  rec[25] = fields.flags;
  bothEndian16(rec, 28, 1);
  rec[32] = idLength;
  fields.identifier.copy(rec, 33);
  systemUse.copy(rec, 33 + idLength + pad);
  return rec;
}

/** Length of a record before its system use area. */
export function recordBaseLength(identifierLength: number): number {
  return 33 + identifierLength + (identifierLength % 2 === 0 ? 1 : 0);
}

export function sectorsFor(bytes: number): number {
  return Math.ceil(bytes / SECTOR);
}
