// Where the install step leaves the tarball of the runtime the ISO ships, for the tests.
import { join } from 'node:path';
import { projectRoot } from '../buildchain/paths.ts';
import { loadRuntimeDeclaration, type RuntimeDeclaration } from '../buildchain/sources/npm-runtime.ts';

const PROJECT = projectRoot();

export const RUNTIME_CACHE = join(PROJECT, 'node_modules', '.cache', 'metalk8s', 'runtime');

export function declaredRuntime(): RuntimeDeclaration {
  return loadRuntimeDeclaration(join(PROJECT, 'runtime', 'node.yaml'));
}
