// Runs the selected tasks and their dependencies with N workers. A task starts when all its
// dependencies are done; among ready tasks the one defined first starts first, so equal runs
// print in the same order. A failure skips its dependents but lets independent work finish.
import { rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { errorMessage } from '../errors.ts';
import { ActionError, runAction, TaskOutput } from './actions.ts';
import type { TaskGraph, TaskNode } from './graph.ts';
import type { Reporter, RunSummary, TaskReport } from './report.ts';
import type { StateStore } from './state.ts';
import type { ActionContext } from './task.ts';
import { FileDigests, judge, type Verdict } from './uptodate.ts';

export interface RunOptions {
  workers: number;
  reporter: Reporter;
  /** Aborting it stops starting tasks and interrupts the running ones (Ctrl-C). */
  signal: AbortSignal;
  /** Echo action output as it comes (-v). */
  verbose: boolean;
}

interface Slot {
  node: TaskNode;
  pending: number;
  failedDep?: string;
  done: boolean;
}

export async function runTasks(graph: TaskGraph, state: StateStore, roots: readonly string[], options: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  const files = new FileDigests(graph.root, state);
  const slots = new Map<string, Slot>();
  const dependents = new Map<string, string[]>();
  const ready = new MinHeap<Slot>((a, b) => a.node.index - b.node.index);
  const reports: TaskReport[] = [];
  let active = 0;
  let finished = 0;

  const enroll = (names: readonly string[]): void => {
    for (const name of names) {
      if (slots.has(name)) continue;
      const slot: Slot = { node: graph.get(name)!, pending: 0, done: false };
      slots.set(name, slot);
      watchDeps(slot);
    }
  };
  // Counts the unfinished dependencies of a slot and subscribes it to them.
  const watchDeps = (slot: Slot): void => {
    for (const dep of graph.depsOf(slot.node.name)) {
      const depSlot = slots.get(dep)!;
      if (depSlot.done) continue;
      slot.pending += 1;
      const list = dependents.get(dep) ?? [];
      list.push(slot.node.name);
      dependents.set(dep, list);
    }
    if (slot.pending === 0) ready.push(slot);
  };

  const complete = (slot: Slot, report: TaskReport): void => {
    slot.done = true;
    finished += 1;
    reports.push(report);
    options.reporter.taskFinished(report);
    const failed = report.result === 'fail' || report.result === 'skipped' ? slot.failedDep ?? slot.node.name : undefined;
    for (const name of dependents.get(slot.node.name) ?? []) {
      const dependent = slots.get(name)!;
      if (failed && !dependent.failedDep) dependent.failedDep = failed;
      dependent.pending -= 1;
      if (dependent.pending === 0) ready.push(dependent);
    }
  };

  const handle = async (slot: Slot): Promise<void> => {
    const { node } = slot;
    if (slot.failedDep) {
      complete(slot, blankReport(node.name, 'skipped', [`dependency failed: ${slot.failedDep}`]));
      return;
    }
    if (state.isIgnored(node.name)) {
      complete(slot, blankReport(node.name, 'ignore', ['ignored (see ./build.ts forget)']));
      return;
    }
    if (node.delayed && !node.generated) {
      const created = graph.addGenerated(node.name, await node.delayed.create());
      enroll(graph.closure(created));
      options.reporter.totalChanged(slots.size);
      slot.pending = 0;
      watchDeps(slot); // re-queues it once its new subtasks are done
      return;
    }
    const verdict = await judge(node, state, files, graph.root);
    if (verdict.missing.length > 0) {
      const report = blankReport(node.name, 'fail', verdict.reasons);
      report.error = `file_dep does not exist and no task creates it: ${verdict.missing.join(', ')}`;
      complete(slot, report);
      return;
    }
    if (verdict.reasons.length === 0) {
      complete(slot, blankReport(node.name, 'up-to-date', []));
      return;
    }
    complete(slot, await execute(node, verdict));
  };

  const execute = async (node: TaskNode, verdict: Verdict): Promise<TaskReport> => {
    const actions = node.spec.actions ?? [];
    const report = blankReport(node.name, 'success', verdict.reasons);
    const output = new TaskOutput(options.verbose);
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
      if (absent.length > 0) throw new ActionError(`its actions succeeded but did not create target(s): ${absent.join(', ')}`);
      state.setTask(node.name, { deps: verdict.deps, signature: verdict.signature });
    } catch (error) {
      report.result = options.signal.aborted ? 'interrupted' : 'fail';
      report.error = errorMessage(error);
      state.setTask(node.name, null);
      removePartialTargets(graph.root, node.targets, before);
    }
    for (const target of node.targets) files.invalidate(target);
    report.elapsed = (Date.now() - report.started) / 1000;
    report.out = output.out;
    report.err = output.err;
    return report;
  };

  const order = graph.selection(roots);
  enroll(order);
  options.reporter.runStarted(slots.size);

  await new Promise<void>((resolveRun) => {
    const pump = (): void => {
      while (active < options.workers && ready.size > 0 && !options.signal.aborted) {
        const slot = ready.pop()!;
        active += 1;
        handle(slot)
          .catch((error: unknown) => complete(slot, { ...blankReport(slot.node.name, 'fail', []), error: errorMessage(error) }))
          .finally(() => {
            active -= 1;
            pump();
          });
      }
      if (active === 0 && (ready.size === 0 || options.signal.aborted)) resolveRun();
    };
    pump();
  });

  for (const slot of slots.values()) {
    if (!slot.done) reports.push(blankReport(slot.node.name, options.signal.aborted ? 'interrupted' : 'skipped', []));
  }
  const ok = !options.signal.aborted && reports.every((r) => r.result !== 'fail' && r.result !== 'skipped' && r.result !== 'interrupted');
  const summary: RunSummary = { tasks: reports, elapsed: (Date.now() - started) / 1000, interrupted: options.signal.aborted, ok };
  options.reporter.runFinished(summary);
  return summary;
}

function blankReport(name: string, result: TaskReport['result'], reasons: string[]): TaskReport {
  return { name, result, reasons, executed: false, out: '', err: '' };
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

/** A binary heap: the ready queue stays cheap with thousands of ready tasks. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(items[i]!, items[parent]!) >= 0) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.less(items[left]!, items[smallest]!) < 0) smallest = left;
        if (right < items.length && this.less(items[right]!, items[smallest]!) < 0) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}
