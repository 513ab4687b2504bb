import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { cacheEntry } from './cache-key.ts';
import { TaskGraph } from './graph.ts';
import { StateStore } from './state.ts';
import type { TaskSpec } from './task.ts';
import { FileDigests, judge } from './uptodate.ts';

/** The cache entry of `spec` in a fresh project whose files are `files`, its build root elsewhere. */
async function entryIn(files: Record<string, string>, spec: TaskSpec, version = 'v1') {
  const root = tempDir();
  const buildRoot = join(tempDir(), 'build');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const graph = new TaskGraph(root, [
    { ...spec, targets: (spec.targets ?? []).map((t) => t.replace('BUILD', buildRoot)) },
  ]);
  const state = new StateStore(join(buildRoot, '.engine'));
  const node = graph.get(spec.name)!;
  const verdict = await judge(node, state, new FileDigests(root, state, false));
  return cacheEntry(node, verdict, { root, buildRoot, version });
}

const task: TaskSpec = {
  name: 'gen',
  file_dep: ['in.txt'],
  targets: ['BUILD/out.txt'],
  uptodate: ['a'],
  actions: [['sh', '-c', 'true']],
  cache: true,
};

describe('cache keys', () => {
  it('are equal for equal inputs in other checkouts and build roots, and differ with any input', async () => {
    const key = (await entryIn({ 'in.txt': 'x' }, task))!.key;
    expect((await entryIn({ 'in.txt': 'x' }, task))!).toMatchObject({ key, names: ['build/out.txt'] });
    const others = [
      await entryIn({ 'in.txt': 'y' }, task),
      await entryIn({ 'in.txt': 'x' }, { ...task, uptodate: ['b'] }),
      await entryIn({ 'in.txt': 'x' }, { ...task, actions: [['sh', '-c', 'false']] }),
      await entryIn({ 'in.txt': 'x' }, { ...task, name: 'gen2' }),
      await entryIn({ 'in.txt': 'x' }, task, 'v2'),
    ];
    for (const other of others) expect(other!.key).not.toBe(key);
  });

  it('are not made for a task with a path outside both roots or a directory in file_dep', async () => {
    expect(await entryIn({ 'in.txt': 'x' }, { ...task, targets: ['/tmp/elsewhere.txt'] })).toBeUndefined();
    expect(await entryIn({ 'in/a.txt': 'x' }, { ...task, file_dep: ['in'] })).toBeUndefined();
  });
});
