// Node's built-in modules loaded on first use: node:crypto or node:child_process cost ~10 ms at
// every start otherwise, most of a no-op build (node:worker_threads: 10 ms of `iso create` on a
// small tree, which hashes without a worker). A require() made with createRequire, rather than
// process.getBuiltinModule, which Node.js 16 (the runtime the node-side agent runs on, for
// glibc 2.17) does not have; the base path only matters to non-builtin names.
import { createRequire } from 'node:module';

const requireBuiltin = createRequire('/');

function lazy<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireBuiltin(name) as T);
}

export const crypto = lazy<typeof import('node:crypto')>('node:crypto');
export const childProcess = lazy<typeof import('node:child_process')>('node:child_process');
export const os = lazy<typeof import('node:os')>('node:os');
export const tls = lazy<typeof import('node:tls')>('node:tls');
export const workerThreads = lazy<typeof import('node:worker_threads')>('node:worker_threads');
