// Where the project is. Bundled code runs from node_modules/.cache, so the launcher says it in
// METALK8S_PROJECT_ROOT; unbundled code (tests) finds it from this file's own location.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function projectRoot(): string {
  return process.env.METALK8S_PROJECT_ROOT ?? resolve(dirname(fileURLToPath(import.meta.url)), '..');
}
