// The JavaScript runtime the ISO ships (runtime/node.yaml), for the tests that run the node-side
// agent: the real tarball of the npm registry, fetched by the install step before the tests
// (`npm run fetch:runtime`, which .ci/run calls) and checked against its pinned sha256 here, then
// unpacked as the build unpacks it. Tests never reach the registry themselves.
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BlobStore } from '../buildchain/store/blob-store.ts';
import { runtimeDigest, unpackRuntime } from '../buildchain/sources/npm-runtime.ts';
import { tempDir } from './helpers.ts';
import { declaredRuntime, RUNTIME_CACHE } from './runtime-cache.ts';

/** The tarball as the npm registry serves it, from the install step's cache. */
export function runtimeTarball(): string {
  const runtime = declaredRuntime();
  const file = join(RUNTIME_CACHE, `${runtime.name}-${runtime.version}.tgz`);
  if (!existsSync(file))
    throw new Error(
      `${file} is missing: run \`npm run fetch:runtime\` (npm pack ${runtime.name}@${runtime.version}) once after npm ci`,
    );
  return file;
}

/** Unpacks the shipped runtime into `dir` (node and LICENSE), after checking the tarball's sha256. */
export async function unpackShippedRuntime(dir: string): Promise<string> {
  const runtime = declaredRuntime();
  const store = new BlobStore(tempDir('mk8s-runtime-store-'));
  const tarball = runtimeTarball();
  await store.ingest(runtimeDigest(runtime), async () => ({ body: createReadStream(tarball), start: 0 }), {
    describe: tarball,
  });
  await unpackRuntime(store, runtime, dir);
  return join(dir, 'node');
}
