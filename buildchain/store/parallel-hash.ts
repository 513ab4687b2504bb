// SHA-256 of a stream of buffers, computed in a worker thread: the caller keeps its own thread for
// reading and writing, and on two cores the hash stops adding to the wall time. Buffers live in
// SharedArrayBuffers, so the worker reads them where they are; they are hashed in the order given.
import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../builtins.ts';

const WORKER = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
let buffers = [];
parentPort.on('message', (message) => {
  if (message.buffers) buffers = message.buffers;
  else if (message.digest) parentPort.postMessage({ digest: hash.digest('hex') });
  else {
    hash.update(new Uint8Array(buffers[message.index], 0, message.length));
    parentPort.postMessage({ done: message.index });
  }
});
`;

export class ParallelSha256 {
  private readonly worker: Worker = new (workerThreads().Worker)(WORKER, { eval: true });
  private readonly waiting = new Map<number, (() => void)[]>();
  private digestWaiter: ((hex: string) => void) | undefined;
  private failure: Error | undefined;

  /** Buffers the caller will hash, by index; they must wrap SharedArrayBuffers. */
  constructor(buffers: readonly Buffer[]) {
    this.worker.postMessage({ buffers: buffers.map((b) => b.buffer) });
    this.worker.on('message', (message: { done?: number; digest?: string }) => {
      if (message.digest !== undefined) this.digestWaiter?.(message.digest);
      else if (message.done !== undefined) this.waiting.get(message.done)?.shift()?.();
    });
    this.worker.on('error', (error) => (this.failure = error));
  }

  /** Hashes the first `length` bytes of buffer `index`; resolves when the buffer may be reused. */
  update(index: number, length: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve) => {
      const list = this.waiting.get(index) ?? [];
      list.push(resolve);
      this.waiting.set(index, list);
      this.worker.postMessage({ index, length });
    });
  }

  async digest(): Promise<string> {
    const hex = await new Promise<string>((resolve) => {
      this.digestWaiter = resolve;
      this.worker.postMessage({ digest: true });
    });
    await this.worker.terminate();
    return hex;
  }

  async abandon(): Promise<void> {
    await this.worker.terminate();
  }

  /** A buffer the worker can read in place. */
  static sharedBuffer(size: number): Buffer {
    return Buffer.from(new SharedArrayBuffer(size));
  }
}
