import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runEngine, tempDir } from '../../test/helpers.ts';
import { copyFileAtomic } from '../fs/atomic.ts';
import { Engine } from './engine.ts';
import { BuildLock } from './lock.ts';
import { StateStore } from './state.ts';
import type { TaskDefinition, TaskSpec } from './task.ts';

/** A task copying `from` to `to`, counting its runs in `runs`. */
function copyTask(name: string, from: string, to: string, runs: string[], extra: Partial<TaskSpec> = {}): TaskSpec {
  return {
    name,
    file_dep: [from],
    targets: [to],
    actions: [
      async (ctx) => {
        runs.push(name);
        await copyFileAtomic(join(ctx.root, from), join(ctx.root, to));
      },
    ],
    ...extra,
  };
}

describe('up-to-date decisions', () => {
  it('runs once, then only when a file_dep content, a target or an uptodate value changes', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'in.txt'), 'one');
    const runs: string[] = [];
    let version = '1';
    const defs = (): TaskDefinition[] => [copyTask('copy', 'in.txt', 'out.txt', runs, { uptodate: [version] })];

    expect((await runEngine(root, defs(), ['copy'])).result('copy')).toBe('success');
    expect((await runEngine(root, defs(), ['copy'])).result('copy')).toBe('up-to-date');

    // mtime moved, same bytes: hashed again, found equal, not re-run
    const later = new Date(Date.now() + 5000);
    utimesSync(join(root, 'in.txt'), later, later);
    expect((await runEngine(root, defs(), ['copy'])).result('copy')).toBe('up-to-date');

    writeFileSync(join(root, 'in.txt'), 'two');
    expect((await runEngine(root, defs(), ['copy'])).result('copy')).toBe('success');
    expect(readFileSync(join(root, 'out.txt'), 'utf8')).toBe('two');

    await writeFile(join(root, 'out.txt'), ''); // a target edited by hand is not an input: still up to date
    expect((await runEngine(root, defs(), ['copy'])).result('copy')).toBe('up-to-date');

    const { rmSync } = await import('node:fs');
    rmSync(join(root, 'out.txt'));
    const missing = await runEngine(root, defs(), ['copy']);
    expect(missing.finished[0]!.reasons).toContain('target missing: out.txt');

    version = '2';
    const changed = await runEngine(root, defs(), ['copy']);
    expect(changed.finished[0]!.reasons).toContain('its uptodate values or commands changed');
    expect(runs).toEqual(['copy', 'copy', 'copy', 'copy']);
  });

  it('always runs a task without file_dep and uptodate, or with a false uptodate', async () => {
    const root = tempDir();
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      { name: 'bare', actions: [() => void runs.push('bare')] },
      { name: 'never', uptodate: [false], actions: [() => void runs.push('never')] },
      { name: 'once', uptodate: [true], actions: [() => void runs.push('once')] },
      { name: 'check', uptodate: [() => runs.length > 100], actions: [() => void runs.push('check')] },
    ];
    await runEngine(root, defs, ['bare', 'never', 'once', 'check']);
    await runEngine(root, defs, ['bare', 'never', 'once', 'check']);
    expect(runs.sort()).toEqual(['bare', 'bare', 'check', 'check', 'never', 'never', 'once']);
  });

  it('re-runs a task whose command line changed, and passes only the changed file_dep', async () => {
    const root = tempDir();
    for (const f of ['a', 'b']) writeFileSync(join(root, f), f);
    const seen: string[][] = [];
    const defs = (argv: string[]): TaskDefinition[] => [
      { name: 'cmd', file_dep: ['a', 'b'], actions: [argv, (ctx) => void seen.push([...ctx.changed])] },
    ];
    await runEngine(root, defs(['true']), ['cmd']);
    writeFileSync(join(root, 'b'), 'B');
    await runEngine(root, defs(['true']), ['cmd']);
    expect(seen).toEqual([['a', 'b'], ['b']]);
    const report = await runEngine(root, defs(['true', 'x']), ['cmd']);
    expect(report.result('cmd')).toBe('success');
  });
});

describe('ordering and parallelism', () => {
  it('runs task_dep and file_dep producers first, and tasks decided together in definition order', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'src'), 'x');
    const runs: string[] = [];
    const log = (name: string): TaskSpec['actions'] => [() => void runs.push(name)];
    const defs: TaskDefinition[] = [
      { name: 'final', task_dep: ['step:*'], file_dep: ['mid'], actions: log('final') },
      copyTask('produce', 'src', 'mid', runs),
      { name: 'step:b', actions: log('step:b') },
      { name: 'step:a', task_dep: ['produce'], actions: log('step:a') },
    ];
    await runEngine(root, defs, ['final'], { workers: 1 });
    const at = (name: string) => runs.indexOf(name);
    expect([...runs].sort()).toEqual(['final', 'produce', 'step:a', 'step:b']);
    expect(at('produce')).toBeLessThan(at('step:a'));
    expect(Math.max(at('produce'), at('step:a'), at('step:b'))).toBeLessThan(at('final'));

    // Tasks decided at once (no file to hash) start in the order they are defined.
    const order: string[] = [];
    const named = (name: string): TaskSpec => ({ name, actions: [() => void order.push(name)] });
    await runEngine(root, [named('c'), named('a'), named('b')], ['b', 'a', 'c'], { workers: 1 });
    expect(order).toEqual(['c', 'a', 'b']);
  });

  it('overlaps independent tasks with two workers, and not with one', async () => {
    const root = tempDir();
    const spans: Record<string, [number, number]> = {};
    const sleeper = (name: string): TaskSpec => ({
      name,
      actions: [
        async () => {
          const start = performance.now();
          await sleep(200);
          spans[name] = [start, performance.now()];
        },
      ],
    });
    const overlapping = (): boolean => spans.a![0] < spans.b![1] && spans.b![0] < spans.a![1];
    await runEngine(root, [sleeper('a'), sleeper('b')], ['a', 'b'], { workers: 2 });
    expect(overlapping()).toBe(true);
    await runEngine(root, [sleeper('a'), sleeper('b')], ['a', 'b'], { workers: 1 });
    expect(overlapping()).toBe(false);
  });

  it('selects with wildcards and rejects unknown names with suggestions, and cycles', async () => {
    const root = tempDir();
    const runs: string[] = [];
    const defs: TaskDefinition[] = ['_pull:one', '_pull:two', 'other'].map((name) => ({
      name,
      actions: [() => void runs.push(name)],
    }));
    await runEngine(root, defs, ['_pull:*']);
    expect(runs).toEqual(['_pull:one', '_pull:two']);
    await expect(runEngine(root, defs, ['_pul:one'])).rejects.toThrow(
      /no task matches '_pul:one' \(did you mean '_pull:one'/,
    );
    const cyclic: TaskDefinition[] = [
      { name: 'a', task_dep: ['b'] },
      { name: 'b', task_dep: ['a'] },
    ];
    await expect(runEngine(root, cyclic, ['a'])).rejects.toThrow(/dependency cycle: a -> b -> a/);
  });
});

describe('failures', () => {
  it('skips dependents of a failure, finishes independent tasks, removes partial targets', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'src'), 'x');
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      {
        name: 'broken',
        targets: ['partial.bin'],
        file_dep: ['src'],
        actions: [
          async () => {
            await writeFile(join(root, 'partial.bin'), 'half');
            throw new Error('disk on fire');
          },
        ],
      },
      { name: 'after', file_dep: ['partial.bin'], actions: [() => void runs.push('after')] },
      {
        name: 'independent',
        actions: [
          async () => {
            await sleep(50);
            runs.push('independent');
          },
        ],
      },
      { name: 'shell-fails', actions: [{ shell: 'echo to-stderr >&2; exit 3' }] },
      { name: 'missing-program', actions: [['definitely-not-a-program-xyz']] },
    ];
    const report = await runEngine(root, defs, ['after', 'independent', 'shell-fails', 'missing-program']);
    expect(report.result('broken')).toBe('fail');
    expect(report.result('after')).toBe('skipped');
    expect(report.result('independent')).toBe('success');
    expect(runs).toEqual(['independent']);
    expect(existsSync(join(root, 'partial.bin'))).toBe(false);
    const shell = report.finished.find((r) => r.name === 'shell-fails')!;
    expect(shell.error).toMatch(/exited with code 3/);
    expect(shell.err).toBe('to-stderr\n');
    expect(report.finished.find((r) => r.name === 'missing-program')!.error).toMatch(
      /command not found: definitely-not-a-program-xyz/,
    );
    expect(report.summary!.ok).toBe(false);
    // Never succeeded: runs again next time
    const again = await runEngine(root, defs, ['broken']);
    expect(again.finished[0]!.reasons).toContain('it never succeeded');
  });

  it('fails a task whose actions do not create a declared target, or whose file_dep is missing', async () => {
    const root = tempDir();
    const defs: TaskDefinition[] = [
      { name: 'lazy', targets: ['never.txt'], actions: [() => undefined] },
      { name: 'needy', file_dep: ['nowhere.txt'], actions: [() => undefined] },
    ];
    const report = await runEngine(root, defs, ['lazy', 'needy']);
    expect(report.finished.find((r) => r.name === 'lazy')!.error).toMatch(/did not create target\(s\): never.txt/);
    expect(report.finished.find((r) => r.name === 'needy')!.error).toMatch(/no task creates it: nowhere.txt/);
  });

  it('stops on abort: running tasks are interrupted, nothing else starts', async () => {
    const root = tempDir();
    const controller = new AbortController();
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      { name: 'long', actions: [{ shell: 'sleep 5' }] },
      { name: 'next', task_dep: ['long'], actions: [() => void runs.push('next')] },
    ];
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const report = await runEngine(root, defs, ['next'], { signal: controller.signal });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(report.summary!.interrupted).toBe(true);
    expect(report.result('long')).toBe('interrupted');
    expect(runs).toEqual([]);
  });
});

describe('delayed task creation', () => {
  it('creates subtasks after the tasks they wait for, from what those produced', async () => {
    const root = tempDir();
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      {
        name: 'populate',
        uptodate: [true],
        targets: ['tree'],
        actions: [
          () => {
            mkdirSync(join(root, 'tree'));
            for (const f of ['a', 'b']) writeFileSync(join(root, 'tree', f), f);
          },
        ],
      },
      {
        basename: 'digest',
        after: ['populate'],
        create: () =>
          ['a', 'b']
            .filter((f) => existsSync(join(root, 'tree', f)))
            .map((f) => ({
              name: `digest:${f}`,
              file_dep: [`tree/${f}`],
              actions: [() => void runs.push(f)],
            })),
      },
    ];
    const report = await runEngine(root, defs, ['digest']);
    expect(runs.sort()).toEqual(['a', 'b']); // two workers: both may run at once
    expect(report.result('digest')).toBe('success');
    const second = await runEngine(root, defs, ['digest']);
    expect(second.result('digest:a')).toBe('up-to-date');
  });

  it('creates a family without holding a worker: tasks run while its creation waits', async () => {
    const root = tempDir();
    let ran!: () => void;
    const otherRan = new Promise<void>((resolve) => (ran = resolve));
    const defs: TaskDefinition[] = [
      // Its creation waits on what `other` does (as a family asking the store waits on a download):
      // with the only worker held by the creation, `other` could never run.
      {
        basename: 'layout',
        after: [],
        create: async () => {
          await otherRan;
          return [{ name: 'layout:one', actions: [() => undefined] }];
        },
      },
      { name: 'other', actions: [() => ran()] },
    ];
    const report = await runEngine(root, defs, ['layout', 'other'], { workers: 1 });
    expect(report.result('other')).toBe('success');
    expect(report.result('layout:one')).toBe('success');
  });

  it('never runs two actions at once with one worker, whatever order tasks are decided in', async () => {
    const root = tempDir();
    let running = 0;
    let most = 0;
    const defs: TaskDefinition[] = Array.from({ length: 6 }, (_, i): TaskSpec => {
      writeFileSync(join(root, `in${i}`), 'x'.repeat(i * 300_000));
      return {
        name: `t${i}`,
        // Some decided at once, others after hashing a file or a check that waits.
        ...(i % 3 === 1 ? { file_dep: [`in${i}`] } : {}),
        ...(i % 3 === 2 ? { uptodate: [async () => (await sleep(10 * i), false)] } : {}),
        actions: [
          async () => {
            running += 1;
            most = Math.max(most, running);
            await sleep(20);
            running -= 1;
          },
        ],
      };
    });
    const report = await runEngine(
      root,
      defs,
      defs.map((d) => (d as TaskSpec).name),
      { workers: 1 },
    );
    expect(report.executed.sort()).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
    expect(most).toBe(1);
  });

  it('asks an uptodate check without holding a worker: tasks run while it waits', async () => {
    const root = tempDir();
    let ran!: () => void;
    const otherRan = new Promise<void>((resolve) => (ran = resolve));
    const defs: TaskDefinition[] = [
      // Its check waits on what `other` does (as a check asking the store waits on a download).
      { name: 'checked', uptodate: [async () => (await otherRan, false)], actions: [() => undefined] },
      { name: 'other', actions: [() => ran()] },
    ];
    const report = await runEngine(root, defs, ['checked', 'other'], { workers: 1 });
    expect(report.result('other')).toBe('success');
    expect(report.result('checked')).toBe('success');
  });

  it('skips a created subtask whose dependency already failed, instead of judging its inputs', async () => {
    const root = tempDir();
    const defs: TaskDefinition[] = [
      {
        name: 'fetch',
        targets: ['lock'],
        actions: [
          () => {
            throw new Error('unreachable');
          },
        ],
      },
      { name: 'other', actions: [() => undefined] },
      {
        // Created once `other` has run, after `fetch` has failed already.
        basename: 'layout',
        after: ['other'],
        create: () => [{ name: 'layout:one', task_dep: ['fetch'], file_dep: ['lock'], actions: [() => undefined] }],
      },
    ];
    const report = await runEngine(root, defs, ['fetch', 'layout'], { workers: 1 });
    expect(report.result('fetch')).toBe('fail');
    expect(report.result('layout:one')).toBe('skipped');
    expect(report.finished.find((r) => r.name === 'layout:one')!.error ?? '').not.toContain('no task creates it');
  });
});

describe('selecting subtasks of a delayed family', () => {
  it('runs exactly the named or matched subtasks, after the family waits for', async () => {
    const root = tempDir();
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      { name: 'config', actions: [() => void runs.push('config')] },
      {
        basename: 'pull',
        after: ['config'],
        create: () =>
          ['etcd', 'kube-apiserver', 'kube-proxy'].map((image) => ({
            name: `pull:${image}`,
            actions: [() => void runs.push(image)],
          })),
      },
    ];
    await runEngine(root, defs, ['pull:etcd'], { workers: 1 });
    expect(runs).toEqual(['config', 'etcd']);
    runs.length = 0;
    await runEngine(root, defs, ['pull:kube-*'], { workers: 1 });
    expect(runs).toEqual(['config', 'kube-apiserver', 'kube-proxy']);
    runs.length = 0;
    await runEngine(root, defs, ['pull'], { workers: 1 });
    expect(runs).toEqual(['config', 'etcd', 'kube-apiserver', 'kube-proxy']);
  });
});

describe('clean, ignore, forget', () => {
  it('removes targets (directories only when empty), dependents first, and forgets', async () => {
    const root = tempDir();
    const runs: string[] = [];
    writeFileSync(join(root, 'src'), 'x');
    const defs: TaskDefinition[] = [
      {
        name: 'dir',
        targets: ['out'],
        uptodate: [true],
        actions: [() => mkdirSync(join(root, 'out'), { recursive: true })],
        clean: true,
      },
      copyTask('file', 'src', 'out/file', runs, { task_dep: ['dir'], clean: true }),
      {
        name: 'kept',
        targets: ['kept.txt'],
        uptodate: [true],
        actions: [() => writeFileSync(join(root, 'kept.txt'), '')],
      },
    ];
    await runEngine(root, defs, ['file', 'kept']);
    const engine = new Engine({ root, buildRoot: join(root, '_build'), definitions: defs, defaultTasks: [] });
    const said: string[] = [];
    await engine.clean(['file'], { dryRun: true, log: (m) => said.push(m), lockWaitSeconds: 0 });
    expect(said).toEqual(['file: would remove out/file', 'dir: kept out (directory not empty)']);
    expect(existsSync(join(root, 'out/file'))).toBe(true);

    said.length = 0;
    await engine.clean([], { dryRun: false, log: (m) => said.push(m), lockWaitSeconds: 0 });
    expect(said).toEqual(['file: removing out/file', 'dir: removing out/']);
    expect(existsSync(join(root, 'out'))).toBe(false);
    expect(existsSync(join(root, 'kept.txt'))).toBe(true); // no clean declared
    const rerun = await runEngine(root, defs, ['kept']);
    expect(rerun.result('kept')).toBe('success'); // forgotten by clean
  });

  it('reports ignored tasks with !! status until forgotten', async () => {
    const root = tempDir();
    const runs: string[] = [];
    const defs: TaskDefinition[] = [{ name: 'x', actions: [() => void runs.push('x')] }];
    const engine = new Engine({ root, buildRoot: join(root, '_build'), definitions: defs, defaultTasks: [] });
    await engine.ignore(['x']);
    expect((await runEngine(root, defs, ['x'])).result('x')).toBe('ignore');
    await new Engine({ root, buildRoot: join(root, '_build'), definitions: defs, defaultTasks: [] }).forget(['x']);
    expect((await runEngine(root, defs, ['x'])).result('x')).toBe('success');
    expect(runs).toEqual(['x']);
  });
});

describe('default selection', () => {
  it('runs every public task when the project declares no default task, as doit does', async () => {
    const root = tempDir();
    const runs: string[] = [];
    const defs: TaskDefinition[] = ['a', 'b:1', '_hidden'].map((name) => ({
      name,
      actions: [() => void runs.push(name)],
    }));
    await runEngine(root, defs, []);
    expect(runs.sort()).toEqual(['a', 'b:1']);
  });
});

describe('state and lock', () => {
  it('replays the journal after a crash and ignores a torn last line', async () => {
    const dir = tempDir();
    const state = new StateStore(dir);
    state.setTask('a', ['s', 'p', ['abc']]);
    state.setTask('b', ['s', '', []]);
    // no save(): as if killed; then a torn write
    await writeFile(join(dir, 'journal.jsonl'), (await readFile(join(dir, 'journal.jsonl'), 'utf8')) + '{"task":["c",');
    const reloaded = new StateStore(dir);
    expect(reloaded.task('a')).toEqual(['s', 'p', ['abc']]);
    expect(reloaded.task('b')).toBeDefined();
    expect(reloaded.task('c')).toBeUndefined();
    reloaded.save();
    expect(existsSync(join(dir, 'journal.jsonl'))).toBe(false);
    expect(new StateStore(dir).task('a')).toBeDefined();
  });

  it('warns and starts afresh on an unreadable snapshot', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'state.v8'), '{not a snapshot');
    expect(new StateStore(dir).loadProblem).toMatch(/state.v8 is unreadable/);
  });

  it('refuses a second holder clearly, waits when asked, and takes over a dead holder', async () => {
    const dir = tempDir();
    const first = new BuildLock(join(dir, 'lock'));
    await first.acquire(0);
    await expect(new BuildLock(join(dir, 'lock')).acquire(0)).rejects.toThrow(
      /another build holds this BUILD_ROOT: pid \d+/,
    );
    setTimeout(() => first.release(), 300);
    await new BuildLock(join(dir, 'lock')).acquire(5);

    const stale = join(dir, 'stale-lock');
    writeFileSync(
      stale,
      JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), started: '', command: 'x' }),
    );
    await new BuildLock(stale).acquire(0);
  });

  it('holds the lock during a run, also against ignore and forget', async () => {
    const root = tempDir();
    const defs: TaskDefinition[] = [{ name: 'slow', actions: [() => sleep(300)] }];
    const running = runEngine(root, defs, ['slow']);
    await sleep(100);
    await expect(runEngine(root, defs, ['slow'])).rejects.toThrow(/another build holds this BUILD_ROOT/);
    const engine = new Engine({ root, buildRoot: join(root, '_build'), definitions: defs, defaultTasks: [] });
    await expect(engine.forget(['slow'])).rejects.toThrow(/another build holds this BUILD_ROOT/);
    expect((await running).result('slow')).toBe('success');
  });
});

describe('info', () => {
  it('says why a task would run, and its dependencies', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'src'), 'x');
    const runs: string[] = [];
    const defs: TaskDefinition[] = [
      copyTask('copy', 'src', 'dst', runs, { doc: 'Copy src.', task_dep: ['other'] }),
      { name: 'other' },
    ];
    const engine = (): Engine =>
      new Engine({ root, buildRoot: join(root, '_build'), definitions: defs, defaultTasks: [] });
    const before = await engine().info('copy');
    expect(before).toContain('Copy src.');
    expect(before).toContain('status: will run, because:\n  - it never succeeded\n  - target missing: dst');
    expect(before).toContain('file_dep:\n  - src\ntask_dep:\n  - other\ntargets:\n  - dst');
    await runEngine(root, defs, ['copy']);
    expect(await engine().info('copy')).toContain('status: up to date');
    await expect(engine().info('cpy')).rejects.toThrow(/no task 'cpy' \(did you mean 'copy'/);
  });
});
