// The build chain's version as cache keys see it: not only VERSION, which changes at releases,
// but the digest of the code that builds (and of the locked dependencies), so that a fix in a
// library an action calls never lets a runner take a result the old code made. Computed once
// per run, and only when a cacheable task must run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles } from '../fs/walk.ts';
import { createSha256 } from '../store/sha256.ts';

/** What the build's behaviour follows from, under the chain's root. */
const CODE = ['buildchain', 'tasks', 'static-registry'];
const FILES = ['VERSION', 'package-lock.json'];

export function chainIdentity(root: string): string {
  const hash = createSha256();
  const files = [
    ...FILES,
    ...CODE.flatMap((dir) =>
      listFiles(join(root, dir))
        .filter((file) => /\.(ts|cjs|js|json|ya?ml)$/.test(file) && !file.endsWith('.test.ts'))
        .map((file) => `${dir}/${file}`),
    ),
  ];
  for (const file of files) {
    let content: Buffer;
    try {
      content = readFileSync(join(root, file));
    } catch {
      continue; // an installed toolkit has no package-lock.json: what is there is what runs
    }
    hash.update(`${file}\0${content.length}\0`).update(content);
  }
  return hash.digest('hex');
}
