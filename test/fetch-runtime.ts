// `npm run fetch:runtime`: puts the tarball of the runtime the ISO ships (runtime/node.yaml) where
// the tests find it, with npm itself: an install step, as npm ci is, run once before the tests.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { declaredRuntime, RUNTIME_CACHE } from './runtime-cache.ts';

const runtime = declaredRuntime();
mkdirSync(RUNTIME_CACHE, { recursive: true });
execFileSync('npm', ['pack', '--silent', `${runtime.name}@${runtime.version}`, '--pack-destination', RUNTIME_CACHE], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
process.stdout.write(`${RUNTIME_CACHE}/${runtime.name}-${runtime.version}.tgz\n`);
