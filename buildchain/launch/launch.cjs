// Starts a TypeScript entry point (./build.ts, ./toolkit.ts, bench/run.ts) from its cached
// bundle: starting Node on plain JavaScript costs a fraction of compiling TypeScript at each run.
// `node buildchain/launch/launch.cjs --bundle-only` prepares the bundles (npm's prepare step).
'use strict';
const { resolve } = require('node:path');
const { ensureBundle } = require('./bundle.cjs');

const root = resolve(__dirname, '..', '..');

// Node parses the NODE_EXTRA_CA_CERTS bundle when it starts: 40 ms here, most of a no-op build.
// The entry line (build.ts, toolkit.ts) moves it aside; it is put back at once, so that child
// processes (skopeo, dnf, another node) see it as before. Code of ours that opens TLS connections
// must add the certificates of METALK8S_DEFERRED_CA_CERTS to its own connection options.
if (process.env.METALK8S_DEFERRED_CA_CERTS) process.env.NODE_EXTRA_CA_CERTS = process.env.METALK8S_DEFERRED_CA_CERTS;
const [entryArg, ...args] = process.argv.slice(2);
if (!entryArg) {
  process.stderr.write('usage: node buildchain/launch/launch.cjs ENTRY.ts [ARGS...] | --bundle-only\n');
  process.exit(2);
}
const entries = entryArg === '--bundle-only' ? ['build.ts', 'toolkit.ts'] : [entryArg];

// `./build.ts list | head`: when the reader of our output goes away, stop quietly, as Unix tools
// do on SIGPIPE, instead of dying on an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

(async () => {
  let bundle;
  try {
    for (const entry of entries) bundle = await ensureBundle(root, resolve(root, entry));
  } catch (error) {
    process.stderr.write(`cannot compile ${entries.join(', ')}:\n${error.message}\n`);
    process.exit(1);
  }
  if (entryArg !== '--bundle-only') {
    process.env.METALK8S_PROJECT_ROOT = root;
    process.argv = [process.argv[0], resolve(entryArg), ...args];
    require(bundle);
  }
})();
