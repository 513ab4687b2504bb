// A no-op proof must never hide work the normal rules would do: each case below changes one
// thing the rules read, and the next run must fall back to them.
import { appendFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEngine, tempDir } from '../../test/helpers.ts';
import { copyFileAtomic } from '../fs/atomic.ts';
import { Engine } from './engine.ts';
import type { TaskDefinition } from './task.ts';

function project(): {
  root: string;
  runs: string[];
  defs: (extra?: Partial<Record<string, unknown>>) => TaskDefinition[];
} {
  const root = tempDir();
  writeFileSync(join(root, 'a.txt'), 'a');
  const runs: string[] = [];
  const defs = (extra: Partial<Record<string, unknown>> = {}): TaskDefinition[] => [
    {
      name: 'copy',
      file_dep: ['a.txt'],
      targets: ['b.txt'],
      uptodate: [extra.version ?? 1],
      actions: [
        async () => {
          runs.push('copy');
          await copyFileAtomic(join(root, 'a.txt'), join(root, 'b.txt'));
        },
      ],
    },
    { name: 'all', task_dep: ['copy'] },
  ];
  return { root, runs, defs };
}

describe('no-op proofs', () => {
  it('proves the second run, and falls back to the rules on a content change or a touch', async () => {
    const { root, runs, defs } = project();
    expect((await runEngine(root, defs(), ['all'])).summary!.proven).toBe(false);
    const second = await runEngine(root, defs(), ['all']);
    expect(second.summary!.proven).toBe(true);
    expect(second.result('copy')).toBe('up-to-date');

    writeFileSync(join(root, 'a.txt'), 'A');
    const edited = await runEngine(root, defs(), ['all']);
    expect(edited.summary!.proven).toBe(false);
    expect(edited.result('copy')).toBe('success');

    const later = new Date(Date.now() + 10_000);
    utimesSync(join(root, 'a.txt'), later, later);
    const touched = await runEngine(root, defs(), ['all']);
    expect(touched.summary!.proven).toBe(false); // mtime moved: the rules rehash and find no change
    expect(touched.result('copy')).toBe('up-to-date');
    expect((await runEngine(root, defs(), ['all'])).summary!.proven).toBe(true);
    expect(runs).toEqual(['copy', 'copy']);
  });

  it('after a change, runs what the rules run: what depends on a changed file or on a task that ran', async () => {
    const root = tempDir();
    for (const name of ['a', 'b', 'c']) writeFileSync(join(root, `${name}.src`), name);
    writeFileSync(join(root, 'side.txt'), '');
    const runs: string[] = [];
    const copy = (name: string): TaskDefinition => ({
      name: `copy:${name}`,
      file_dep: [`${name}.src`],
      targets: [`${name}.out`],
      actions: [
        async () => {
          runs.push(name);
          await copyFileAtomic(join(root, `${name}.src`), join(root, `${name}.out`));
          if (name === 'a') appendFileSync(join(root, 'side.txt'), '+'); // undeclared
        },
      ],
    });
    const defs: TaskDefinition[] = [
      copy('a'),
      copy('b'),
      copy('c'),
      {
        name: 'all',
        file_dep: ['a.out', 'b.out', 'c.out'],
        targets: ['all.txt'],
        actions: [() => void (runs.push('all'), writeFileSync(join(root, 'all.txt'), 'abc'))],
      },
      { name: 'group', task_dep: ['copy:a'] },
      // Reads what copy:a writes without declaring it, behind a group: the normal rules see the change.
      { name: 'late', task_dep: ['group'], file_dep: ['side.txt'], actions: [() => void runs.push('late')] },
    ];
    const tasks = ['all', 'late'];
    await runEngine(root, defs, tasks);
    expect((await runEngine(root, defs, tasks)).summary!.proven).toBe(true);
    runs.length = 0;

    writeFileSync(join(root, 'a.src'), 'A');
    const edited = await runEngine(root, defs, tasks);
    expect(edited.summary!.proven).toBe(false);
    expect(runs.sort()).toEqual(['a', 'all', 'late']);
    expect(['copy:b', 'copy:c', 'group'].map((name) => edited.result(name))).toEqual([
      'up-to-date',
      'up-to-date',
      'success',
    ]);
    expect((await runEngine(root, defs, tasks)).summary!.proven).toBe(true);

    const later = new Date(Date.now() + 10_000);
    utimesSync(join(root, 'b.src'), later, later);
    runs.length = 0;
    const touched = await runEngine(root, defs, tasks);
    expect([touched.summary!.proven, touched.result('copy:b'), runs]).toEqual([false, 'up-to-date', []]);
    // The proof written after the touch holds the new stat: the next run is proven again.
    expect((await runEngine(root, defs, tasks)).summary!.proven).toBe(true);

    // A touched target that another task reads: both are judged, neither runs.
    utimesSync(join(root, 'a.out'), later, later);
    const intermediate = await runEngine(root, defs, tasks);
    expect([intermediate.result('copy:a'), intermediate.result('all'), runs]).toEqual(['up-to-date', 'up-to-date', []]);
    expect((await runEngine(root, defs, tasks)).summary!.proven).toBe(true);

    // A touch beside an edit: the edit's task and what reads its target run.
    utimesSync(join(root, 'c.src'), later, later);
    writeFileSync(join(root, 'b.src'), 'B');
    const both = await runEngine(root, defs, tasks);
    expect([both.result('copy:c'), both.result('copy:b'), runs.sort()]).toEqual([
      'up-to-date',
      'success',
      ['all', 'b'],
    ]);
    runs.length = 0;

    const { rmSync } = await import('node:fs');
    rmSync(join(root, 'c.out'));
    const removed = await runEngine(root, defs, tasks);
    expect([removed.result('copy:c'), removed.result('all'), runs]).toEqual(['success', 'up-to-date', ['c']]);
  });

  it('falls back when a definition, a target, or the state changes', async () => {
    const { root, runs, defs } = project();
    await runEngine(root, defs(), ['all']);
    expect((await runEngine(root, defs({ version: 2 }), ['all'])).result('copy')).toBe('success');

    const { rmSync } = await import('node:fs');
    rmSync(join(root, 'b.txt'));
    expect((await runEngine(root, defs({ version: 2 }), ['all'])).result('copy')).toBe('success');

    await new Engine({
      root,
      buildRoot: join(root, '_build'),
      definitions: defs({ version: 2 }),
      defaultTasks: [],
    }).forget(['copy']);
    expect((await runEngine(root, defs({ version: 2 }), ['all'])).result('copy')).toBe('success');

    await new Engine({
      root,
      buildRoot: join(root, '_build'),
      definitions: defs({ version: 2 }),
      defaultTasks: [],
    }).ignore(['copy']);
    expect((await runEngine(root, defs({ version: 2 }), ['all'])).result('copy')).toBe('ignore');
    expect((await runEngine(root, defs({ version: 2 }), ['all'])).result('copy')).toBe('ignore'); // no proof while ignored
    expect(runs.length).toBe(4);
  });

  it('sees a file_dep rewritten after its consumer ran by a task that does not declare it', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'in.txt'), 'v1');
    const seen: string[] = [];
    const defs: TaskDefinition[] = [
      { name: 'read', file_dep: ['in.txt'], actions: [() => void seen.push('read')] },
      {
        name: 'sneaky',
        task_dep: ['read'],
        uptodate: [true],
        actions: [() => appendFileSync(join(root, 'in.txt'), '+')],
      },
    ];
    await runEngine(root, defs, ['sneaky'], { workers: 1 });
    const second = await runEngine(root, defs, ['sneaky'], { workers: 1 });
    expect(second.summary!.proven).toBe(false);
    expect(second.result('read')).toBe('success'); // as the normal rules say: its input changed after it ran
  });

  it('keeps asking uptodate functions, and never proves tasks that always run', async () => {
    const root = tempDir();
    let fresh = true;
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      { name: 'checked', uptodate: [() => fresh], actions: [() => void runs.push('checked')] },
      { name: 'always', actions: [() => void runs.push('always')] },
    ];
    await runEngine(root, defs, ['checked']);
    expect((await runEngine(root, defs, ['checked'])).summary!.proven).toBe(true);
    fresh = false;
    expect((await runEngine(root, defs, ['checked'])).result('checked')).toBe('success');
    await runEngine(root, defs, ['always']);
    expect((await runEngine(root, defs, ['always'])).result('always')).toBe('success');
    expect(runs).toEqual(['checked', 'checked', 'always', 'always']);
  });

  it('re-creates delayed families and notices a new subtask', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'tree'));
    writeFileSync(join(root, 'tree/a'), 'a');
    const { readdirSync } = await import('node:fs');
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      {
        basename: 'each',
        after: [],
        create: () =>
          readdirSync(join(root, 'tree'))
            .sort()
            .map((f) => ({ name: `each:${f}`, file_dep: [`tree/${f}`], actions: [() => void runs.push(f)] })),
      },
    ];
    await runEngine(root, defs, ['each']);
    expect((await runEngine(root, defs, ['each'])).summary!.proven).toBe(true);
    writeFileSync(join(root, 'tree/b'), 'b');
    const third = await runEngine(root, defs, ['each']);
    expect(third.summary!.proven).toBe(false);
    expect(runs).toEqual(['a', 'b']);
  });

  it('falls back to the rules when a family cannot re-create its subtasks (a tree deleted)', async () => {
    const root = tempDir();
    const { readdirSync, rmSync } = await import('node:fs');
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      {
        name: 'fill',
        targets: ['tree/a'],
        uptodate: [true],
        actions: [
          () => {
            mkdirSync(join(root, 'tree'), { recursive: true });
            writeFileSync(join(root, 'tree/a'), 'a');
            runs.push('fill');
          },
        ],
      },
      {
        // Lists a tree another task makes: throws while the tree is missing.
        basename: 'each',
        after: ['fill'],
        create: () =>
          readdirSync(join(root, 'tree')).map((f) => ({
            name: `each:${f}`,
            file_dep: [`tree/${f}`],
            actions: [() => void runs.push(f)],
          })),
      },
    ];
    await runEngine(root, defs, ['each']);
    expect((await runEngine(root, defs, ['each'])).summary!.proven).toBe(true);
    rmSync(join(root, 'tree'), { recursive: true });
    const rebuilt = await runEngine(root, defs, ['each']);
    expect(rebuilt.summary!.proven).toBe(false);
    expect(runs).toEqual(['fill', 'a', 'fill']); // the same bytes again: each:a stays up to date
  });
});
