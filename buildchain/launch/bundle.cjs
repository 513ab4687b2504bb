// Compiles a TypeScript entry point into one cached CommonJS file with esbuild, and rebuilds it
// only when a file it was made from changed (its inputs and their mtimes are kept beside it).
// Plain CommonJS on purpose: it runs before anything is compiled, and Node 20 loads CommonJS
// (and the builtins it requires) markedly faster than ES modules.
'use strict';
const { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { join, relative, resolve } = require('node:path');

/** @param {string} root @param {string} entry @returns {string} */
function bundlePathFor(root, entry) {
  const rel = relative(root, entry);
  // Named after the path, not a hash of it: loading node:crypto would cost more than the rest.
  const name = (rel.startsWith('..') ? `external${entry}` : rel)
    .replace(/[^A-Za-z0-9._-]/g, '__')
    .replace(/\.[cm]?[jt]s$/, '');
  return join(root, 'node_modules', '.cache', 'metalk8s', `${name}.cjs`);
}

/** @param {string} out @returns {boolean} */
function isFresh(out) {
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(`${out}.inputs.json`, 'utf8'));
  } catch {
    return false;
  }
  for (const [file, mtimeMs] of inputs) {
    if (statSync(file, { throwIfNoEntry: false })?.mtimeMs !== mtimeMs) return false;
  }
  return statSync(out, { throwIfNoEntry: false }) !== undefined;
}

/**
 * Path of an up-to-date bundle of `entry` (an absolute path).
 * @param {string} root @param {string} entry @returns {Promise<string>}
 */
async function ensureBundle(root, entry) {
  const out = bundlePathFor(root, entry);
  if (isFresh(out)) return out;
  const esbuild = require('esbuild');
  const result = await esbuild
    .build({
      entryPoints: [entry],
      absWorkingDir: root,
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      packages: 'external',
      write: false,
      metafile: true,
      logLevel: 'silent',
      legalComments: 'none',
    })
    .catch((/** @type {any} */ error) => {
      const messages = (error.errors ?? []).map(
        (/** @type {any} */ e) =>
          `${e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ` : ''}${e.text}`,
      );
      throw new Error(messages.join('\n') || String(error));
    });
  mkdirSync(join(out, '..'), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, out);
  const inputs = Object.keys(result.metafile.inputs)
    .map((input) => resolve(root, input))
    .map((file) => [file, statSync(file).mtimeMs]);
  writeFileSync(`${tmp}.inputs`, JSON.stringify(inputs));
  renameSync(`${tmp}.inputs`, `${out}.inputs.json`);
  return out;
}

module.exports = { bundlePathFor, ensureBundle };
