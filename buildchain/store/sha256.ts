// SHA-256, the one API for content digests: `sha256:<hex>` digests (what the store, OCI and the
// package lock name content by) and their hex (what SBOMs and SHA256SUM print), of bytes, of files
// streamed with flat memory, and of streams being copied (verified against what was declared).
// node:crypto is loaded on first use: it costs ~10 ms at every start of a no-op build otherwise.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { BuildError } from '../errors.ts';
import * as builtins from '../builtins.ts';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

/** Returns the digest if it is a well-formed sha256 digest, else an error naming `where`. */
export function parseDigest(value: unknown, where: string): string {
  if (typeof value !== 'string' || !SHA256.test(value)) {
    const hex = typeof value === 'string' ? value.replace(/^sha256:/, '') : '';
    const detail =
      typeof value === 'string' && /^sha256:[a-f0-9]*$/.test(value) ? ` (${hex.length} hex digits instead of 64)` : '';
    throw new BuildError(`${where}: ${JSON.stringify(value)} is not a sha256 digest "sha256:<64 hex digits>"${detail}`);
  }
  return value;
}

/**
 * The hex of a `sha256:<hex>` digest. Every path and URL made from a digest goes through here, so a
 * string that is not `sha256:` and 64 lowercase hex digits (`sha256:../../etc/passwd`) is refused
 * rather than joined into a path.
 */
export function digestHex(digest: string, where = 'digest'): string {
  return parseDigest(digest, where).slice('sha256:'.length);
}

/** The digest of a sha256 given as hex (a lock's checksum, a declared source's sha256, a blob's file name). */
export function hexDigest(hex: string): string {
  return `sha256:${hex}`;
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${builtins.crypto().createHash('sha256').update(data).digest('hex')}`;
}

export class DigestMismatchError extends BuildError {
  override name = 'DigestMismatchError';
}

/**
 * A pass-through stream that hashes what goes through it and fails at the end when the bytes do
 * not have the expected digest (or size), so a corrupt blob never completes a write.
 * `prefix` is a hash already fed with bytes received earlier (a resumed download).
 */
export class DigestVerifier extends Transform {
  #hash;
  #bytes: number;
  readonly expectedSize: number | undefined;
  readonly maxSize: number | undefined;

  /** `expectedSize`: the size declared with the digest; `maxSize`: a bound when none is declared. */
  constructor(
    readonly expected: string,
    readonly describe: string,
    options: {
      alreadyHashed?: ReturnType<typeof createSha256>;
      alreadyBytes?: number;
      expectedSize?: number;
      maxSize?: number;
    } = {},
  ) {
    super();
    this.#hash = options.alreadyHashed ?? createSha256();
    this.#bytes = options.alreadyBytes ?? 0;
    this.expectedSize = options.expectedSize;
    this.maxSize = options.maxSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    if (this.expectedSize !== undefined && this.#bytes > this.expectedSize) {
      done(
        new DigestMismatchError(
          `${this.describe}: received more than the ${this.expectedSize} bytes declared for ${this.expected}`,
        ),
      );
      return;
    }
    if (this.expectedSize === undefined && this.maxSize !== undefined && this.#bytes > this.maxSize) {
      done(
        new DigestMismatchError(
          `${this.describe}: received more than ${this.maxSize} bytes, the most accepted without a declared size`,
        ),
      );
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = `sha256:${this.#hash.digest('hex')}`;
    if (actual !== this.expected) {
      done(
        new DigestMismatchError(
          `${this.describe}: digest mismatch, expected ${this.expected}, got ${actual} (${this.#bytes} bytes)`,
        ),
      );
      return;
    }
    done();
  }
}

export function createSha256() {
  return builtins.crypto().createHash('sha256');
}

/** Below this size one read is cheaper than a stream. */
const SMALL_FILE = 1 << 20;

/** The hex sha256 of a file, streamed. */
export async function sha256File(path: string, knownSize?: number): Promise<string> {
  const hash = createSha256();
  if (knownSize !== undefined && knownSize < SMALL_FILE) {
    hash.update(await readFile(path));
    return hash.digest('hex');
  }
  for await (const chunk of createReadStream(path, { highWaterMark: SMALL_FILE })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/** The hex sha256 of a text. */
export function sha256Text(text: string): string {
  return createSha256().update(text).digest('hex');
}
