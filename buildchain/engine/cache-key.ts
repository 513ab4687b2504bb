// The key of a cacheable task's result: the sha256 of everything its targets follow from, in a
// form that is the same on every runner with the same inputs (no absolute path, no inode, no
// time), and different as soon as one input differs.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { sha256Text } from '../store/sha256.ts';
import type { TaskNode } from './graph.ts';
import type { CacheEntry } from './task.ts';
import type { Verdict } from './uptodate.ts';

/**
 * A path's name in the cache: `build/<path>` under the build root, `project/<path>` under the
 * project root; undefined elsewhere (such a task cannot be shared: another runner has no such path).
 */
export function portableName(path: string, root: string, buildRoot: string): string | undefined {
  const absolute = resolve(root, path);
  for (const [prefix, base] of [
    ['build', buildRoot],
    ['project', root],
  ] as const) {
    const inside = relative(base, absolute);
    if (inside && !inside.startsWith('..') && !isAbsolute(inside)) return `${prefix}/${inside.split(sep).join('/')}`;
  }
  return undefined;
}

/**
 * What the cache is asked about `node` with these inputs; undefined when it cannot be shared.
 * The key covers the chain's version, the task's name, its actions (a command as declared, a
 * function's source text: what a closure captures is in its file_dep and uptodate values, which
 * the key covers too), its file_dep (portable name and content digest, as the state records
 * them: 128 bits of sha256; a directory in file_dep makes it unshareable), its recorded uptodate
 * values and its targets' names.
 */
export function cacheEntry(
  node: TaskNode,
  verdict: Verdict,
  where: { root: string; buildRoot: string; version: string },
): CacheEntry | undefined {
  const names = node.targets.map((target) => portableName(target, where.root, where.buildRoot));
  const deps = node.fileDeps.map((path) => portableName(path, where.root, where.buildRoot));
  if (node.targets.length === 0 || names.includes(undefined) || deps.includes(undefined)) return undefined;
  // A directory's "digest" says nothing of its content: a key on it could hand over a stale result.
  if (verdict.record[2].includes('directory')) return undefined;
  const actions = (node.spec.actions ?? []).map((action) =>
    typeof action === 'function' ? String(action) : JSON.stringify(action),
  );
  const uptodate = (node.spec.uptodate ?? []).filter((value) => typeof value !== 'function');
  const inputs = {
    version: where.version,
    task: node.name,
    actions,
    file_dep: deps.map((name, i) => [name, verdict.record[2][i]]),
    uptodate,
    targets: names,
  };
  return {
    task: node.name,
    key: sha256Text(JSON.stringify(inputs)),
    targets: node.targets,
    names: names as string[],
    root: where.root,
  };
}
