// Starts a TypeScript entry point (./build.ts, ./toolkit.ts, bench/run.ts) from its cached
// bundle: starting Node on plain JavaScript costs a tenth of compiling TypeScript at each run.
// `node buildchain/launch.mjs --bundle-only` prepares the bundles (npm's prepare step).
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBundle } from './bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entryArg, ...args] = process.argv.slice(2);
if (!entryArg) {
  process.stderr.write('usage: node buildchain/launch.mjs ENTRY.ts [ARGS...] | --bundle-only\n');
  process.exit(2);
}
const entries = entryArg === '--bundle-only' ? ['build.ts', 'toolkit.ts'] : [entryArg];
let bundle;
try {
  for (const entry of entries) bundle = await ensureBundle(root, resolve(root, entry));
} catch (error) {
  process.stderr.write(`cannot compile ${entries.join(', ')}:\n${error.message}\n`);
  process.exit(1);
}
if (entryArg !== '--bundle-only') {
  process.env.METALK8S_PROJECT_ROOT = root;
  process.argv = [process.argv[0], resolve(root, entryArg), ...args];
  await import(pathToFileURL(bundle).href);
}
