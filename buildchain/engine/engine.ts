// The engine's verbs over one project: run, list, info, clean, ignore, forget.
import { readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import type { KnownDigest } from '../fs/stat-numbers.ts';
import { join, resolve } from 'node:path';
import { BuildError, UsageError, errorMessage } from '../errors.ts';
import { TaskGraph, type TaskNode } from './graph.ts';
import { suggestion } from '../suggest.ts';
import { BuildLock } from './lock.ts';
import {
  checkNoopProof,
  presumedResults,
  tasksToJudge,
  writeNoopProof,
  writeSettledProof,
  type NoopProofStore,
  type ProofCheck,
} from './noop.ts';
import { emptyReport, type Reporter, type RunSummary } from './report.ts';
import { runTasks } from './scheduler.ts';
import { StateStore } from './state.ts';
import { isPrivate, isSubtask, type ResultCache, type TaskDefinition, type TaskSpec } from './task.ts';
import type { Verbosity } from './actions.ts';
import { FileDigests, judge } from './uptodate.ts';

export interface Project {
  /** Relative paths in tasks are relative to it; it is the cwd of commands. */
  root: string;
  /** Holds the engine state (BUILD_ROOT/.engine) and the lock. */
  buildRoot: string;
  definitions: readonly TaskDefinition[];
  defaultTasks: readonly string[];
  /** Said when a default task is not defined (which parts of the project are missing). */
  missingDefaultHint?: string;
  /** A result cache shared with other runners, and the version of the build chain (part of every key). */
  cache?: ProjectCache;
  /**
   * The hex sha256 of a file the project knows without reading it (a hard link to its content
   * store, whose blobs were verified on the way in), from the file's stat; undefined when unknown.
   * The engine then records a file_dep's digest without hashing it.
   */
  knownDigest?: KnownDigest;
}

export interface ProjectCache {
  results: ResultCache;
  version: string;
}

export interface RunRequest {
  tasks: readonly string[];
  workers: number;
  reporter: Reporter;
  verbosity: Verbosity;
  lockWaitSeconds: number;
  signal: AbortSignal;
}

/** up-to-date, run (it would run now), ignored, or delayed (its subtasks are made when it runs). */
export type TaskStatus = 'up-to-date' | 'run' | 'ignored' | 'delayed';

export interface ListRow {
  name: string;
  doc: string;
  status?: TaskStatus;
}

export interface TaskStateDump {
  name: string;
  ignored: boolean;
  /** signature: hash of the uptodate values and command lines; a digest per file_dep, in order. */
  lastSuccess: { signature: string; fileDepDigests: readonly string[] } | null;
  files: Record<string, { mtimeMs: number; size: number; inode: number; digest: string } | null>;
}

export class Engine {
  private taskGraph: TaskGraph | undefined;
  private stateStore: StateStore | undefined;

  constructor(readonly project: Project) {}

  /** File digests for commands that only look (list, info): nothing is recorded. */
  private readOnlyDigests(): FileDigests {
    return new FileDigests(this.project.root, this.state, false, this.project.knownDigest);
  }

  /** Built on first use: a proven no-op run never needs it. */
  get graph(): TaskGraph {
    this.taskGraph ??= new TaskGraph(this.project.root, this.project.definitions);
    return this.taskGraph;
  }

  get engineDir(): string {
    return join(this.project.buildRoot, '.engine');
  }

  get state(): StateStore {
    this.stateStore ??= new StateStore(this.engineDir);
    return this.stateStore;
  }

  /**
   * The default tasks, or a clear error saying which are not defined yet. A project that
   * declares none runs all its public tasks, as doit does.
   */
  defaultSelection(): readonly string[] {
    if (this.project.defaultTasks.length === 0)
      return this.graph.names.filter((name) => !isSubtask(name) && !isPrivate(name));
    const missing = this.project.defaultTasks.filter((name) => !this.graph.get(name));
    if (missing.length > 0) {
      throw new BuildError(
        `the default task${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} ` +
          `${missing.length > 1 ? 'are' : 'is'} not defined yet${this.project.missingDefaultHint ? `: ${this.project.missingDefaultHint}` : ''}; ` +
          `run './build.ts list' for the tasks that exist`,
      );
    }
    return this.project.defaultTasks;
  }

  private get proofs(): NoopProofStore {
    return {
      root: this.project.root,
      engineDir: this.engineDir,
      stateFiles: [StateStore.snapshotPath(this.engineDir), StateStore.journalPath(this.engineDir)],
    };
  }

  async run(request: RunRequest): Promise<RunSummary> {
    const requested = request.tasks.length > 0 ? request.tasks : this.project.defaultTasks;
    const lock = new BuildLock(join(this.engineDir, 'lock'));
    await lock.acquire(request.lockWaitSeconds, (who) =>
      request.reporter.warn(`waiting for the build lock held by ${who}`),
    );
    try {
      const check = await checkNoopProof(this.proofs, requested, this.project.definitions);
      if (check && 'proven' in check) return reportSettled(check.proven, request.reporter, true);
      if (check) {
        const settled = await this.settleWithoutGraph(check, requested, request.reporter);
        if (settled) return settled;
      }
      const roots = request.tasks.length > 0 ? request.tasks : this.defaultSelection();
      await this.generateNamed(roots);
      const order = this.graph.selection(roots);
      if (this.state.loadProblem) request.reporter.warn(this.state.loadProblem);
      const cache = this.project.cache && { ...this.project.cache, buildRoot: this.project.buildRoot };
      const { knownDigest } = this.project;
      // Only files changed since a proof: the tasks touching none of them are settled as it says.
      const presumed = check && presumedResults(check, this.graph);
      const outcome = await runTasks(this.graph, this.state, order, {
        ...request,
        ...(cache ? { cache } : {}),
        ...(knownDigest ? { knownDigest } : {}),
        ...(presumed ? { presumed } : {}),
      });
      this.state.save(); // before the proof, which records the state files as they are now
      writeNoopProof(
        this.proofs,
        roots,
        this.project.definitions,
        this.graph,
        outcome.summary.tasks,
        outcome.files,
        check && 'changed' in check ? check : undefined,
      );
      return outcome.summary;
    } finally {
      this.stateStore?.save();
      lock.release();
    }
  }

  /**
   * A run after a change that leaves every task it reaches up to date (a touched file, same
   * bytes): judged task by task from the definitions, the others settled as the proof says.
   * Undefined when some task must run, or a delayed family is selected: the scheduler decides.
   */
  private async settleWithoutGraph(
    check: Extract<ProofCheck, { changed: Set<string> }>,
    roots: readonly string[],
    reporter: Reporter,
  ): Promise<RunSummary | undefined> {
    const nodes = tasksToJudge(check, this.project.root, this.project.definitions);
    if (!nodes || this.state.loadProblem) return undefined;
    const files = new FileDigests(this.project.root, this.state);
    for (const node of nodes) {
      let verdict;
      try {
        verdict = await judge(node, this.state, files);
      } catch {
        return undefined; // an uptodate check that needs its dependencies to run first
      }
      if (verdict.reasons.length > 0) return undefined;
    }
    const judged = new Set(nodes.map((node) => node.name));
    const results = check.names.map((name, i) => (judged.has(name) ? 'up-to-date' : check.results[i]!));
    const summary = reportSettled({ names: check.names, results }, reporter, false);
    this.state.save(); // before the proof, which records the state files as they are now
    writeSettledProof(this.proofs, roots, check, nodes, files);
    return summary;
  }

  async list(options: { all: boolean; private: boolean; status?: boolean }): Promise<ListRow[]> {
    // Subtasks of delayed families are created (nothing runs) as far as what they read allows now;
    // a family that cannot say yet is listed by its name. A run makes them afresh, in its process.
    if (options.all) await this.generateDelayed(() => {});
    const names = this.graph.names
      .filter((name) => (options.all || !isSubtask(name)) && (options.private || !isPrivate(name)))
      .sort();
    const files = this.readOnlyDigests();
    const rows: ListRow[] = [];
    for (const name of names) {
      const node = this.graph.get(name)!;
      const row: ListRow = { name, doc: firstLine(node.spec.doc) };
      if (options.status) row.status = (await this.judgement(node, files)).status;
      rows.push(row);
    }
    return rows;
  }

  /** Where a task stands, as list --status says it, and why it would run (why, info). */
  private async judgement(node: TaskNode, files: FileDigests): Promise<{ status: TaskStatus; reasons: string[] }> {
    if (node.delayed && !node.generated) return { status: 'delayed', reasons: [] };
    if (this.state.isIgnored(node.name)) return { status: 'ignored', reasons: [] };
    let verdict;
    try {
      verdict = await judge(node, this.state, files);
    } catch (error) {
      // An uptodate check reading what an earlier task makes: a run asks it only after that task.
      return {
        status: 'run',
        reasons: [`its uptodate check cannot answer before its dependencies run: ${errorMessage(error)}`],
      };
    }
    return { status: verdict.reasons.length === 0 ? 'up-to-date' : 'run', reasons: [...verdict.reasons] };
  }

  /** What `why TASK` prints: every reason the task would run, one a line; none when it is up to date. */
  async why(name: string): Promise<{ status: TaskStatus; reasons: string[] }> {
    const node = this.graph.get(name) ?? (await this.delayedSubtask(name));
    return this.judgement(node, this.readOnlyDigests());
  }

  /** What `state TASK` (doit's dumpdb) prints: the task's record from its last success, and its files'. */
  async stateOf(name: string): Promise<TaskStateDump> {
    const node = this.graph.get(name) ?? (await this.delayedSubtask(name));
    const record = this.state.task(name);
    return {
      name,
      ignored: this.state.isIgnored(name),
      lastSuccess: record ? { signature: record[0], fileDepDigests: record[2] } : null,
      files: Object.fromEntries(
        node.fileDeps.map((path) => {
          const file = this.state.file(path);
          return [path, file ? { mtimeMs: file[0], size: file[1], inode: file[2], digest: file[3] } : null];
        }),
      ),
    };
  }

  /** What `info TASK` prints: status with every reason, dependencies, targets. */
  async info(name: string): Promise<string> {
    const node = this.graph.get(name) ?? (await this.delayedSubtask(name));
    const lines = [name];
    if (node.spec.doc) lines.push('', node.spec.doc.trim(), '');
    const { status, reasons } = await this.judgement(node, this.readOnlyDigests());
    if (status === 'delayed') {
      lines.push(
        `status: its subtasks are created when it runs, after: ${node.delayed?.after.join(', ') || '(nothing)'}`,
      );
    } else if (status === 'ignored') {
      lines.push('status: ignored (./build.ts forget to undo)');
    } else {
      lines.push(status === 'up-to-date' ? 'status: up to date' : 'status: will run, because:');
      for (const reason of reasons) lines.push(`  - ${reason}`);
    }
    const section = (title: string, items: readonly string[]): void => {
      if (items.length > 0) lines.push(`${title}:`, ...items.map((item) => `  - ${item}`));
    };
    section('file_dep', node.fileDeps);
    section('task_dep', node.spec.task_dep ?? []);
    section('subtasks', this.graph.subtasksOf(name));
    section('targets', node.targets);
    return `${lines.join('\n')}\n`;
  }

  /**
   * Cleans the selected tasks and their dependencies (all tasks when none is named),
   * dependents first so that directories are empty by the time their turn comes.
   */
  async clean(
    patterns: readonly string[],
    options: { dryRun: boolean; log: (message: string) => void; lockWaitSeconds: number },
  ): Promise<void> {
    const lock = new BuildLock(join(this.engineDir, 'lock'));
    if (!options.dryRun) await lock.acquire(options.lockWaitSeconds);
    try {
      await this.generateDelayed(options.log);
      const order = patterns.length > 0 ? this.graph.selection(patterns) : this.graph.closure(this.graph.names);
      for (const name of [...order].reverse()) {
        // One task that cannot be cleaned (a missing tool) is said in a line; the others are still cleaned.
        try {
          await this.cleanTask(name, options);
        } catch (error) {
          options.log(`${name}: not cleaned: ${errorMessage(error)}`);
          continue;
        }
        if (!options.dryRun) this.state.setTask(name, null);
      }
    } finally {
      if (!options.dryRun) this.state.save();
      lock.release();
    }
  }

  private async cleanTask(name: string, options: { dryRun: boolean; log: (message: string) => void }): Promise<void> {
    const node = this.graph.get(name)!;
    const clean = node.spec.clean;
    if (typeof clean === 'function') {
      await clean({ root: this.project.root, targets: node.targets, dryRun: options.dryRun, log: options.log });
      return;
    }
    if (clean !== true) return;
    for (const target of [...node.targets].reverse()) {
      const path = resolve(this.project.root, target);
      const stats = statSync(path, { throwIfNoEntry: false });
      if (!stats) continue;
      if (stats.isDirectory()) {
        // As doit: a directory target is removed only when empty, it may hold other tasks' files.
        if (readdirSync(path).length > 0) {
          options.log(`${name}: kept ${target} (directory not empty)`);
          continue;
        }
        options.log(`${name}: ${options.dryRun ? 'would remove' : 'removing'} ${target}/`);
        if (!options.dryRun) rmdirSync(path);
      } else {
        options.log(`${name}: ${options.dryRun ? 'would remove' : 'removing'} ${target}`);
        if (!options.dryRun) rmSync(path, { force: true });
      }
    }
  }

  /** A subtask of a delayed family, created for `info` (nothing runs); a usage error when there is none. */
  private async delayedSubtask(name: string): Promise<TaskNode> {
    const family = this.graph.get(name.split(':')[0]!);
    if (family?.delayed && !family.generated) {
      try {
        this.graph.addGenerated(family.name, await family.delayed.create(this.graph.view()));
      } catch (error) {
        throw new UsageError(
          `no task '${name}' yet: ${family.name} creates its subtasks after ${family.delayed.after.join(', ')} (${errorMessage(error)})`,
        );
      }
    }
    const node = this.graph.get(name);
    if (node) return node;
    const later =
      family?.delayed && family.delayed.after.length > 0
        ? ` (${family.name} makes its subtasks from what ${family.delayed.after.join(', ')} ${family.delayed.after.length > 1 ? 'leave' : 'leaves'}: run ${family.delayed.after.length > 1 ? 'them' : 'it'} first to see them all)`
        : suggestion(name, this.graph.names);
    throw new UsageError(`no task '${name}'${later}`);
  }

  /**
   * `family:sub` or `family:pat*` on a delayed family selects exactly those subtasks: they are
   * created now, as `list --all` shows them, and still run after the family's `after` tasks. A
   * family that cannot create them yet stands for all its subtasks, created when it runs.
   */
  private async generateNamed(patterns: readonly string[]): Promise<void> {
    for (const pattern of patterns) {
      const family = this.graph.get(pattern.split(':')[0]!);
      if (!pattern.includes(':') || !family?.delayed || family.generated) continue;
      const after = family.delayed.after;
      let specs: TaskSpec[];
      try {
        specs = [...(await family.delayed.create(this.graph.view()))];
      } catch {
        continue;
      }
      this.graph.addGenerated(
        family.name,
        specs.map((spec) => ({ ...spec, task_dep: [...(spec.task_dep ?? []), ...after] })),
      );
    }
  }

  /** Delayed families must exist to be cleaned; those whose creation fails are said and skipped. */
  private async generateDelayed(log: (message: string) => void): Promise<void> {
    for (const name of this.graph.names) {
      const node = this.graph.get(name)!;
      if (!node.delayed || node.generated) continue;
      try {
        this.graph.addGenerated(name, await node.delayed.create(this.graph.view()));
      } catch (error) {
        log(`${name}: its subtasks cannot be listed now (${errorMessage(error)}); not cleaned`);
      }
    }
  }

  async ignore(patterns: readonly string[], lockWaitSeconds = 0): Promise<string[]> {
    const names = patterns.flatMap((pattern) => this.graph.match(pattern));
    await this.withLock(lockWaitSeconds, () => {
      for (const name of names) this.state.setIgnored(name, true);
    });
    return names;
  }

  /** Forgets the recorded success of tasks (all when none is named): they run next time. */
  async forget(patterns: readonly string[], lockWaitSeconds = 0): Promise<string[]> {
    const names = patterns.length === 0 ? undefined : patterns.flatMap((pattern) => this.graph.match(pattern));
    await this.withLock(lockWaitSeconds, () => {
      if (!names) this.state.forgetAll();
      for (const name of names ?? []) {
        this.state.setTask(name, null);
        this.state.setIgnored(name, false);
      }
    });
    return names ?? ['(all tasks)'];
  }

  /** State changes outside a run: under the lock, or a running build's save would undo them. */
  private async withLock(lockWaitSeconds: number, change: () => void): Promise<void> {
    const lock = new BuildLock(join(this.engineDir, 'lock'));
    await lock.acquire(lockWaitSeconds);
    try {
      change();
      this.state.save();
    } finally {
      lock.release();
    }
  }
}

/** Reports a run that ran nothing (proven: a no-op by its proof) as the normal rules would have. */
function reportSettled(
  tasks: { names: readonly string[]; results: readonly ('up-to-date' | 'success')[] },
  reporter: Reporter,
  proven: boolean,
): RunSummary {
  const started = Date.now();
  reporter.runStarted(tasks.names.length);
  const reports = tasks.names.map((name, i) => emptyReport(name, tasks.results[i]!, []));
  for (const report of reports) reporter.taskFinished(report);
  const summary: RunSummary = {
    tasks: reports,
    elapsed: (Date.now() - started) / 1000,
    interrupted: false,
    ok: true,
    proven,
  };
  reporter.runFinished(summary);
  return summary;
}

function firstLine(text: string | undefined): string {
  return (text ?? '').trim().split('\n')[0] ?? '';
}
