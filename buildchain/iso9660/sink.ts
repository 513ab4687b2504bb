// Where the image's bytes go. Bytes are packed into staging buffers (2 MiB for large images, 512
// KiB for small ones, whose peak memory matters more: no slower on /usr/share, measured); a full
// buffer is hashed (in a worker thread for large images) and written by libuv's threads while the next one
// fills, so thousands of small files cost a few hundred large writes and, on two cores, the hash
// costs little wall time. One write at a time: concurrent writes into one file contend in the
// kernel (measured). A failed write (ENOSPC, EIO) is kept and thrown at the next call, never left
// as a rejected promise nobody waits for.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { ParallelSha256 } from '../store/parallel-hash.ts';

/**
 * Images from 1 GiB are hashed in a worker thread, smaller ones here. Measured on this kind of
 * machine: the worker (about 9 MiB of its own) made /usr/lib (3.8 GiB) 1.3x faster, and /usr/share
 * (0.7 GiB) no faster at all, where its memory put the peak above xorriso's.
 */
const PARALLEL_HASH_FROM = 1 << 30;

interface Staging {
  bytes: Buffer;
  written: Promise<void>;
}

export class ImageSink {
  position = 0;
  private readonly buffers: Staging[];
  private index = 0;
  private fill = 0;
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly parallel: ParallelSha256 | undefined;
  private readonly hash = createHash('sha256');
  private readonly chunk: number;

  constructor(
    private readonly out: FileHandle,
    private readonly total: number,
    private readonly onProgress?: (written: number, total: number) => void,
  ) {
    const parallel = total >= PARALLEL_HASH_FROM;
    this.chunk = parallel ? 2 << 20 : 512 << 10;
    // In rotation: one being filled while the others are hashed and written (the worker's hashing
    // is a third stage for large images).
    this.buffers = Array.from({ length: parallel ? 3 : 2 }, () => ({
      bytes: parallel ? ParallelSha256.sharedBuffer(this.chunk) : Buffer.allocUnsafe(this.chunk),
      written: Promise.resolve(),
    }));
    this.parallel = parallel ? new ParallelSha256(this.buffers.map((b) => b.bytes)) : undefined;
  }

  /** Bytes accepted so far: written, or waiting in a staging buffer. */
  get accepted(): number {
    return this.position + this.fill;
  }

  /** Bytes free in the current staging buffer, without flushing it. */
  get free(): number {
    return this.chunk - this.fill;
  }

  /** Where the free part of the current staging buffer starts (see `free`); `filled()` says what was put. */
  get current(): { bytes: Buffer; offset: number } {
    return { bytes: this.buffers[this.index]!.bytes, offset: this.fill };
  }

  /** The free part of the current staging buffer, after flushing it if it is full. */
  async space(): Promise<{ bytes: Buffer; offset: number; length: number }> {
    if (this.fill === this.chunk) await this.flush();
    const current = this.buffers[this.index]!;
    return { bytes: current.bytes, offset: this.fill, length: this.chunk - this.fill };
  }

  /** Records that `length` bytes were put at the offset `space()` returned. */
  filled(length: number): void {
    this.fill += length;
  }

  append(bytes: Buffer): Promise<void> {
    return this.put(bytes.length, (target, offset, length, done) => bytes.copy(target, offset, done, done + length));
  }

  appendZeros(count: number): Promise<void> {
    return this.put(count, (target, offset, length) => target.fill(0, offset, offset + length));
  }

  /** Puts `count` bytes through the staging buffers, `fill` writing each piece in place. */
  private async put(
    count: number,
    fill: (target: Buffer, offset: number, length: number, done: number) => void,
  ): Promise<void> {
    for (let done = 0; done < count; ) {
      const room = await this.space();
      const length = Math.min(room.length, count - done);
      fill(room.bytes, room.offset, length, done);
      this.filled(length);
      done += length;
    }
  }

  private fail(error: unknown): void {
    this.failure ??= error;
  }

  private async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    const current = this.buffers[this.index]!;
    const bytes = current.bytes.subarray(0, this.fill);
    let hashed: Promise<void> | undefined;
    if (this.parallel)
      hashed = this.parallel.update(this.index, bytes.length).catch((error: unknown) => this.fail(error));
    else this.hash.update(bytes);
    const at = this.position;
    this.position += bytes.length;
    this.tail = this.tail.then(async () => {
      if (this.failure) return;
      try {
        for (let done = 0; done < bytes.length; )
          done += (await this.out.write(bytes, done, bytes.length - done, at + done)).bytesWritten;
        this.onProgress?.(at + bytes.length, this.total);
      } catch (error) {
        this.fail(error);
      }
    });
    // Refilled only once written and hashed.
    current.written = hashed ? Promise.all([this.tail, hashed]).then(() => undefined) : this.tail;
    this.index = (this.index + 1) % this.buffers.length;
    this.fill = 0;
    await this.buffers[this.index]!.written; // its last write must be done before it is refilled
    if (this.failure) throw this.failure;
  }

  async finish(): Promise<string> {
    if (this.fill > 0) await this.flush();
    await this.tail;
    if (this.failure) throw this.failure;
    return this.parallel ? this.parallel.digest() : this.hash.digest('hex');
  }

  /** After a failure: let the writes under way end, and stop the hashing worker, if any. */
  async abandon(): Promise<void> {
    await Promise.all(this.buffers.map((b) => b.written));
    await this.parallel?.abandon();
  }
}
