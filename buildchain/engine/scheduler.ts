// Runs the selected tasks and their dependencies with N workers. A task is decided when all its
// dependencies are done; among tasks decided to run, the one defined first starts first (a task
// whose decision waits, on hashing or a check, starts once decided). A failure skips its
// dependents but lets independent work finish.
import { rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KnownDigest } from '../fs/stat-numbers.ts';
import { errorMessage, settingsOf } from '../errors.ts';
import { ActionError, runAction, TaskOutput, type Verbosity } from './actions.ts';
import type { TaskGraph, TaskNode } from './graph.ts';
import { emptyReport, type Reporter, type RunSummary, type TaskReport } from './report.ts';
import type { StateStore } from './state.ts';
import { cacheEntry } from './cache-key.ts';
import type { ActionContext, CacheEntry, DelayedTasks, ResultCache } from './task.ts';
import { FileDigests, judge, type Verdict } from './uptodate.ts';

export interface RunOptions {
  workers: number;
  reporter: Reporter;
  /** Aborting it stops starting tasks and interrupts the running ones (Ctrl-C). */
  signal: AbortSignal;
  /** Echo action output as it comes (-v). */
  verbosity: Verbosity;
  /** Where cacheable tasks' results are shared (Project.cache); none: every task runs its actions. */
  cache?: { results: ResultCache; version: string; buildRoot: string };
  /** Project.knownDigest: file_dep digests the project knows without their being read. */
  knownDigest?: KnownDigest;
  /**
   * Tasks a no-op proof found settled, with the result it recorded (see noop.ts): each is reported
   * so without being judged, unless a task it depends on, directly or not, runs its actions here.
   */
  presumed?: ReadonlyMap<string, 'up-to-date' | 'success'>;
}

interface Slot {
  node: TaskNode;
  /** The node's definition index: the ready queue's order. */
  readonly key: number;
  pending: number;
  failedDep?: string;
  /** Once done: the failed task this one's failure comes from (itself, or a dependency). */
  failure?: string;
  done: boolean;
}

export interface RunOutcome {
  summary: RunSummary;
  /** The stats the run based its decisions on (see noop.ts). */
  files: FileDigests;
}

/** Runs `order`: a dependency closure, dependencies first (TaskGraph.selection). */
export async function runTasks(
  graph: TaskGraph,
  state: StateStore,
  order: readonly string[],
  options: RunOptions,
): Promise<RunOutcome> {
  const started = Date.now();
  const files = new FileDigests(graph.root, state, true, options.knownDigest);
  const slots = new Map<string, Slot>();
  const dependents = new Map<string, string[]>();
  const ready = new MinHeap<Slot>();
  const reports: TaskReport[] = [];
  /** Presumed tasks downstream of a task that ran its actions in this run: they are judged. */
  const stale = new Set<string>();
  // A task goes through three stages. Deciding whether it must run (hashing its file_dep, asking
  // its uptodate checks) and taking its targets from the shared cache are the engine's own work,
  // which may wait on the network (a check asking the store, which downloads from the cache):
  // they hold none of the `workers`, which only running actions do, as doit runs uptodate checks
  // in its main process. Delayed families are created first: their subtasks may be ready at once.
  /** Tasks whose actions hold one of the `workers`. */
  let active = 0;
  /** Judged, and the cache could not give them: waiting for a worker, defined first runs first. */
  const runnable = new MinHeap<{ slot: Slot; verdict: Verdict; entry?: CacheEntry; key: number }>();
  /** Being judged, restored or created (families): promises the run waits for. */
  let settling = 0;
  const creations: Slot[] = [];
  const queue = (slot: Slot): void => {
    if (slot.node.delayed && !slot.node.generated) creations.push(slot);
    else ready.push(slot);
  };

  const enroll = (names: readonly string[]): void => {
    for (const name of names) {
      if (slots.has(name)) continue;
      const node = graph.get(name)!;
      const slot: Slot = { node, key: node.index, pending: 0, done: false };
      slots.set(name, slot);
      watchDeps(slot);
    }
  };
  // Counts the unfinished dependencies of a slot and subscribes it to them.
  const watchDeps = (slot: Slot): void => {
    for (const dep of graph.depsOf(slot.node.name)) {
      const depSlot = slots.get(dep)!;
      if (depSlot.done) {
        // A subtask created late may depend on a task that has already failed.
        if (depSlot.failure && !slot.failedDep) slot.failedDep = depSlot.failure;
        continue;
      }
      slot.pending += 1;
      const list = dependents.get(dep) ?? [];
      list.push(slot.node.name);
      dependents.set(dep, list);
    }
    if (slot.pending === 0) queue(slot);
  };

  const complete = (slot: Slot, report: TaskReport): void => {
    slot.done = true;
    reports.push(report);
    options.reporter.taskFinished(report);
    const failed =
      report.result === 'fail' || report.result === 'skipped' ? (slot.failedDep ?? slot.node.name) : undefined;
    if (failed) slot.failure = failed;
    // What ran may have rewritten what its dependents read, whether they declare it or not.
    const spread = options.presumed && (report.executed || report.cached || stale.has(slot.node.name));
    for (const name of dependents.get(slot.node.name) ?? []) {
      if (spread) stale.add(name);
      const dependent = slots.get(name)!;
      if (failed && !dependent.failedDep) dependent.failedDep = failed;
      dependent.pending -= 1;
      if (dependent.pending === 0) queue(dependent);
    }
  };

  /** Settles one task; returns a promise only when something must be awaited (hashing, actions). */
  const handle = (slot: Slot): void | Promise<void> => {
    const { node } = slot;
    if (slot.failedDep) {
      complete(slot, emptyReport(node.name, 'skipped', [`dependency failed: ${slot.failedDep}`]));
      return;
    }
    if (state.isIgnored(node.name)) {
      complete(slot, emptyReport(node.name, 'ignore', ['ignored (see ./build.ts forget)']));
      return;
    }
    if (node.delayed && !node.generated) return generate(slot, node.delayed);
    const presumed = options.presumed?.get(node.name);
    if (presumed && !stale.has(node.name)) {
      complete(slot, emptyReport(node.name, presumed, []));
      return;
    }
    const verdict = judge(node, state, files);
    return verdict instanceof Promise ? verdict.then((v) => settle(slot, v)) : settle(slot, verdict);
  };

  const settle = (slot: Slot, verdict: Verdict): void | Promise<void> => {
    const { node } = slot;
    if (verdict.missing.length > 0) {
      const report = emptyReport(node.name, 'fail', verdict.reasons);
      report.error = `file_dep does not exist and no task creates it: ${verdict.missing.join(', ')}`;
      complete(slot, report);
      return;
    }
    if (verdict.reasons.length === 0) {
      complete(slot, emptyReport(node.name, 'up-to-date', []));
      return;
    }
    const entry = entryOf(node, verdict);
    if (!entry) {
      runnable.push({ slot, verdict, key: slot.key });
      return;
    }
    return restore(node, verdict, entry).then((restored) => {
      if (restored) complete(slot, restored);
      else runnable.push({ slot, verdict, entry, key: slot.key });
    });
  };

  /** A delayed family's turn: create its subtasks, and wait for them before settling it. */
  const generate = async (slot: Slot, delayed: DelayedTasks): Promise<void> => {
    const created = graph.addGenerated(slot.node.name, await delayed.create(graph.view()));
    enroll(graph.closure(created));
    options.reporter.totalChanged(slots.size);
    slot.pending = 0;
    watchDeps(slot); // re-queues it once its new subtasks are done
  };

  const cacheContext = { signal: options.signal, warn: (message: string) => options.reporter.warn(message) };
  options.cache?.results.begin?.(cacheContext);
  /** The cache entry of a cacheable task, when a cache is set and the task can be shared. */
  const entryOf = (node: TaskNode, verdict: Verdict): CacheEntry | undefined => {
    const cache = options.cache;
    if (!cache || !node.spec.cache) return undefined;
    return cacheEntry(node, verdict, { root: graph.root, buildRoot: cache.buildRoot, version: cache.version });
  };

  /** A cache that breaks its promise not to throw still fails no task: it is said, and the task goes on. */
  const cacheFault =
    <T>(node: TaskNode, answer: T) =>
    (error: unknown): T => {
      if (options.signal.aborted) throw error;
      options.reporter.warn(`cache: ${node.name}: ${errorMessage(error)}`);
      return answer;
    };

  /** Its targets from the cache, recorded as a success of its actions would be; undefined on a miss. */
  const restore = async (node: TaskNode, verdict: Verdict, entry: CacheEntry): Promise<TaskReport | undefined> => {
    const started = Date.now();
    if (!(await options.cache!.results.restore(entry, cacheContext).catch(cacheFault(node, false)))) return undefined;
    for (const target of node.targets) files.invalidate(target);
    if (!node.targets.every((target) => files.exists(target))) return undefined;
    state.setTask(node.name, verdict.record);
    const report = emptyReport(node.name, 'success', [...verdict.reasons, `restored from the cache (${entry.key})`]);
    report.cached = true;
    report.started = started;
    report.elapsed = (Date.now() - started) / 1000;
    return report;
  };

  /** Runs the actions of a task that must run and that the cache could not give. */
  const execute = async (node: TaskNode, verdict: Verdict, entry: CacheEntry | undefined): Promise<TaskReport> => {
    const actions = node.spec.actions ?? [];
    const report = emptyReport(node.name, 'success', verdict.reasons);
    const output = new TaskOutput(options.verbosity);
    if (actions.length > 0) {
      options.reporter.taskExecuting(node.name, node.spec.title ?? node.name);
      report.executed = true;
    }
    const before = node.targets.map((target) => fingerprint(graph.root, target));
    const context: ActionContext = {
      task: node.name,
      root: graph.root,
      targets: node.targets,
      file_dep: node.fileDeps,
      changed: verdict.changed,
      signal: options.signal,
      log: (message) => output.write('out', `${message}\n`),
      progress: (done, total) => options.reporter.progress(node.name, done, total),
    };
    report.started = Date.now();
    try {
      for (const action of actions) {
        if (options.signal.aborted) throw new ActionError('interrupted');
        await runAction(action, context, output);
      }
      const absent = node.targets.filter((target) => !statSync(resolve(graph.root, target), { throwIfNoEntry: false }));
      if (absent.length > 0)
        throw new ActionError(`its actions succeeded but did not create target(s): ${absent.join(', ')}`);
      state.setTask(node.name, verdict.record);
      if (entry) await options.cache!.results.save(entry, cacheContext).catch(cacheFault(node, undefined));
    } catch (error) {
      report.result = options.signal.aborted ? 'interrupted' : 'fail';
      report.error = errorMessage(error);
      const settings = settingsOf(error);
      if (settings.length > 0) report.settings = settings;
      state.setTask(node.name, null);
      removePartialTargets(graph.root, node.targets, before);
    }
    for (const target of node.targets) files.invalidate(target);
    report.elapsed = (Date.now() - report.started) / 1000;
    report.out = output.out;
    report.err = output.err;
    return report;
  };

  /** A bug or an unexpected exception in the engine itself: the task fails, the run goes on. */
  const failUnexpectedly = (slot: Slot, error: unknown): void => {
    if (!slot.done) complete(slot, { ...emptyReport(slot.node.name, 'fail', []), error: errorMessage(error) });
  };

  enroll(order);
  options.reporter.runStarted(slots.size);

  await new Promise<void>((resolveRun) => {
    /** Follows an outcome of the engine's own work (not holding a worker) or of actions (holding one). */
    const follow = (slot: Slot, outcome: void | Promise<void>, worker: boolean): void => {
      if (!(outcome instanceof Promise)) return;
      if (worker) active += 1;
      else settling += 1;
      outcome
        .catch((error: unknown) => failUnexpectedly(slot, error))
        .finally(() => {
          if (worker) active -= 1;
          else settling -= 1;
          pump();
        });
    };
    const attempt = (slot: Slot, work: () => void | Promise<void>): void | Promise<void> => {
      try {
        return work();
      } catch (error) {
        failUnexpectedly(slot, error);
      }
    };
    const pump = (): void => {
      while (!options.signal.aborted) {
        const slot = creations.shift() ?? ready.pop();
        if (slot) {
          follow(
            slot,
            attempt(slot, () => handle(slot)),
            false,
          );
        } else if (active < options.workers && runnable.size > 0) {
          const { slot: next, verdict, entry } = runnable.pop()!;
          const run = () => execute(next.node, verdict, entry).then((report) => complete(next, report));
          follow(next, attempt(next, run), true);
        } else break;
      }
      const drained = ready.size === 0 && creations.length === 0 && runnable.size === 0;
      if (active === 0 && settling === 0 && (drained || options.signal.aborted)) resolveRun();
    };
    pump();
  });

  for (const slot of slots.values()) {
    if (!slot.done) reports.push(emptyReport(slot.node.name, options.signal.aborted ? 'interrupted' : 'skipped', []));
  }
  const ok =
    !options.signal.aborted &&
    reports.every((r) => r.result !== 'fail' && r.result !== 'skipped' && r.result !== 'interrupted');
  const summary: RunSummary = {
    tasks: reports,
    elapsed: (Date.now() - started) / 1000,
    interrupted: options.signal.aborted,
    ok,
    proven: false,
  };
  options.reporter.runFinished(summary);
  return { summary, files };
}

interface Fingerprint {
  exists: boolean;
  mtimeMs?: number;
  ino?: number;
}

function fingerprint(root: string, target: string): Fingerprint {
  const stats = statSync(resolve(root, target), { throwIfNoEntry: false });
  return stats ? { exists: true, mtimeMs: stats.mtimeMs, ino: stats.ino } : { exists: false };
}

/** After a failure, removes what the failed run created or rewrote; untouched targets stay. */
function removePartialTargets(root: string, targets: readonly string[], before: readonly Fingerprint[]): void {
  targets.forEach((target, i) => {
    const was = before[i]!;
    const now = fingerprint(root, target);
    if (!now.exists) return;
    if (was.exists && was.mtimeMs === now.mtimeMs && was.ino === now.ino) return;
    const stats = statSync(resolve(root, target));
    // A directory that existed before holds other tasks' files: only a new one is removed.
    if (stats.isDirectory() && was.exists) return;
    rmSync(resolve(root, target), { recursive: true, force: true });
  });
}

/** A binary heap of items ordered by a numeric key: cheap with thousands of ready tasks. */
export class MinHeap<T extends { readonly key: number }> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.key <= item.key) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && items[right]!.key < items[left]!.key ? right : left;
      if (items[child]!.key >= last.key) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
