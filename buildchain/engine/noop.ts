// No-op proofs. The most frequent build is the one where nothing changed; proving that task by
// task costs a graph, the state and a verdict per task. So a run in which every selected task
// ended up to date (or ran, and will be up to date next time) records what it observed: a hash
// of the definitions, and the stat (mtime, size, inode) of every file_dep and target, plus the
// state files themselves. The next run with the same selection that finds the same definitions
// and the same stats, and whose uptodate functions still answer true, is a no-op by the normal
// rules, and reports it without loading the state. Any change anywhere falls back to the normal
// rules: a changed file, definition or stat, or any change of the state (a run that executed a
// task, forget, ignore, clean), since the state files are in the observed set.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { statNumbers, type FileStat, type StatNumbers } from '../fs/stat-numbers.ts';
import { absolutePath, normalizePath, type TaskGraph, type TaskNode } from './graph.ts';
import type { TaskReport, TaskResult } from './report.ts';
import { basenameOf, isDelayed, type DelayedTasks, type TaskDefinition, type TaskSpec } from './task.ts';
import { quickHash } from './uptodate.ts';

const FORMAT = 2;

type Settled = Extract<TaskResult, 'up-to-date' | 'success'>;

// Columns, not one record per file or task: at 20,000 tasks a proof holds 40,000 stats, and
// 40,000 small arrays cost more to read back, and to collect, than the stat calls themselves.
interface Proof {
  format: typeof FORMAT;
  definitions: string;
  /** Delayed families of the selection, whose created subtasks are part of `definitions`. */
  delayed: string[];
  /** Absolute paths; the state files come last. */
  paths: readonly string[];
  /** mtimeMs, size and ino of each path, in turn; -1s for a path that must not exist. */
  stats: Float64Array;
  /** What a no-op run reports for each task, in the order the proving run settled them. */
  names: readonly string[];
  results: readonly Settled[];
}

/** The paths of a proof and their stats as a check saw them. */
export interface Observed {
  paths: readonly string[];
  stats: Float64Array;
}

export interface NoopProofStore {
  root: string;
  engineDir: string;
  stateFiles: readonly string[];
}

function proofPath(engineDir: string, roots: readonly string[]): string {
  return join(engineDir, 'noop', `${quickHash(roots.join('\0'))}.v8`);
}

/** The last hash of definitions without delayed families: a run checks a proof, then writes one. */
let lastHash: { definitions: readonly TaskDefinition[]; roots: string; hash: string | undefined } | undefined;

/** What the up-to-date rules read of the definitions; undefined when not serializable. */
function definitionsHash(
  roots: readonly string[],
  definitions: readonly TaskDefinition[],
  created: readonly (readonly TaskSpec[])[],
): string | undefined {
  const key = roots.join('\0');
  if (created.length === 0 && lastHash?.definitions === definitions && lastHash.roots === key) return lastHash.hash;
  let hash: string | undefined;
  try {
    hash = quickHash(JSON.stringify([roots, definitions, created]));
  } catch {
    hash = undefined;
  }
  if (created.length === 0) lastHash = { definitions, roots: key, hash };
  return hash;
}

function record(stats: Float64Array, i: number, seen: FileStat | StatNumbers | undefined): void {
  const at = 3 * i;
  if (seen === undefined) stats.fill(-1, at, at + 3);
  else if (Array.isArray(seen)) stats.set(seen, at);
  else stats.set([seen.mtimeMs, seen.size, seen.ino], at);
}

/** A task that would do something in the next run makes the selection unprovable. */
function nextResult(node: TaskNode): 'up-to-date' | 'success' | undefined {
  const uptodate = node.spec.uptodate ?? [];
  if (uptodate.includes(false)) return undefined;
  if (node.fileDeps.length > 0 || uptodate.length > 0) return 'up-to-date';
  return (node.spec.actions ?? []).length === 0 ? 'success' : undefined; // an action-less group, or a task that always runs
}

/**
 * Records the proof of a run that ended well. `observed` gives the stat a path had when the run
 * checked it (undefined: it did not exist; null: the run never looked, so it is the one the proof
 * check saw in `seen`, or it is stat'ed now): a file rewritten later by an undeclared writer then
 * fails the next check, as it must.
 */
export function writeNoopProof(
  store: NoopProofStore,
  roots: readonly string[],
  definitions: readonly TaskDefinition[],
  graph: TaskGraph,
  reports: readonly TaskReport[],
  files: SeenFiles,
  check?: Extract<ProofCheck, { changed: Set<string> }>,
): void {
  const names: string[] = [];
  const results: Settled[] = [];
  const delayed: string[] = [];
  for (const report of reports) {
    if (report.result !== 'up-to-date' && report.result !== 'success') return; // ignored, failed...
    const { name } = report;
    const node = graph.get(name)!;
    const result = nextResult(node);
    if (!result) return;
    if (node.delayed) delayed.push(name);
    names.push(name);
    results.push(result);
  }
  const created = delayed.map((name) => graph.subtasksOf(name).map((sub) => graph.get(sub)!.spec));
  const hash = definitionsHash(roots, definitions, created);
  if (hash === undefined) return;
  const observed =
    (check && sameTasks(check, names, delayed) ? patched(store, graph.root, check, files) : undefined) ??
    everyPath(store, graph, names, files);
  save(store, roots, { format: FORMAT, definitions: hash, delayed, ...observed, names, results });
}

/**
 * Records the proof of a run that judged only `judged` (each up to date) and settled the other
 * tasks as the proof it checked said: that proof, with the stats of what the run looked at.
 */
export function writeSettledProof(
  store: NoopProofStore,
  roots: readonly string[],
  check: Extract<ProofCheck, { changed: Set<string> }>,
  judged: readonly TaskNode[],
  files: SeenFiles,
): void {
  const next = new Map(judged.map((node) => [node.name, nextResult(node)]));
  if ([...next.values()].includes(undefined)) return;
  const results = check.names.map((name, i) => next.get(name) ?? check.results[i]!);
  const observed = patched(store, store.root, check, files);
  if (!observed) return;
  save(store, roots, {
    format: FORMAT,
    definitions: check.definitions,
    delayed: [],
    ...observed,
    ...{ names: check.names, results },
  });
}

function save(store: NoopProofStore, roots: readonly string[], proof: Proof): void {
  const path = proofPath(store.engineDir, roots);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(`${path}.tmp`, serialize(proof));
  renameSync(`${path}.tmp`, path);
}

/** What a run saw of the files: FileDigests. */
interface SeenFiles {
  /** The stat the run based a decision on; null when it never looked. */
  observed(path: string): FileStat | undefined | null;
  observedPaths(): Iterable<string>;
}

/** The paths of the tasks, each with the stat the run saw, or has now when it never looked; then the state files. */
function everyPath(store: NoopProofStore, graph: TaskGraph, names: readonly string[], files: SeenFiles): Observed {
  const unique = new Set<string>();
  for (const name of names) {
    const node = graph.get(name)!;
    for (const path of node.fileDeps) unique.add(path);
    for (const path of node.targets) unique.add(path);
  }
  const paths: string[] = [];
  const stats = new Float64Array(3 * (unique.size + store.stateFiles.length));
  for (const path of unique) {
    const seen = files.observed(path);
    const absolute = absolutePath(graph.root, path);
    record(stats, paths.length, seen === null ? statNumbers(absolute) : seen);
    paths.push(absolute);
  }
  for (const path of store.stateFiles) {
    record(stats, paths.length, statNumbers(path));
    paths.push(path);
  }
  return { paths, stats };
}

/**
 * The check's paths and stats, with what the run saw since of the paths it looked at, and the
 * state files as they are now (undefined if the check had none): right when the run's tasks
 * are the proof's tasks, which have the proof's paths.
 */
function patched(store: NoopProofStore, root: string, check: Observed, files: SeenFiles): Observed | undefined {
  const stats = check.stats.slice();
  const index = new Map<string, number>();
  check.paths.forEach((path, i) => index.set(path, i));
  for (const path of files.observedPaths()) {
    const i = index.get(absolutePath(root, path));
    if (i !== undefined) record(stats, i, files.observed(path) ?? undefined);
  }
  for (const path of store.stateFiles) {
    const i = index.get(path);
    if (i === undefined) return undefined;
    record(stats, i, statNumbers(path));
  }
  return { paths: check.paths, stats };
}

/** Without delayed families, the same tasks have the same paths, whatever order they settled in. */
function sameTasks(check: { names: readonly string[] }, names: readonly string[], delayed: readonly string[]): boolean {
  if (delayed.length > 0 || check.names.length !== names.length) return false;
  const proven = new Set(check.names);
  return names.every((name) => proven.has(name));
}

/** What a proof says of the run about to start. */
export type ProofCheck =
  /** Nothing changed: the results of a no-op run of the selection. */
  | { proven: { names: readonly string[]; results: readonly Settled[] } }
  /**
   * Only files changed (the definitions and the state did not), or an uptodate function that may
   * now answer false: the tasks that touch neither are settled as the proving run left them.
   * `stats` are those the check saw.
   */
  | (Observed & {
      changed: Set<string>;
      /** The hash of the definitions, unchanged. */
      definitions: string;
      names: readonly string[];
      results: readonly Settled[];
      /** The delayed families of the selection. */
      delayed: readonly string[];
    });

/**
 * What still holds of the proof of `roots`: undefined when nothing does (no proof, other
 * definitions, a changed state), and then the normal rules decide everything.
 */
export async function checkNoopProof(
  store: NoopProofStore,
  roots: readonly string[],
  definitions: readonly TaskDefinition[],
): Promise<ProofCheck | undefined> {
  let proof: Proof;
  try {
    proof = deserialize(readFileSync(proofPath(store.engineDir, roots))) as Proof;
    if (proof?.format !== FORMAT) return undefined;
  } catch {
    return undefined;
  }
  const families = new Map<string, DelayedTasks>();
  const specs = new Map<string, TaskSpec>();
  // The declared targets as the proving run's graph held them when each family was created.
  const declared: string[] = [];
  const delayedFamilies = proof.delayed.length > 0;
  const declare = (spec: TaskSpec): void => {
    if (delayedFamilies) for (const target of spec.targets ?? []) declared.push(normalizePath(store.root, target));
  };
  for (const definition of definitions) {
    if (isDelayed(definition)) families.set(definition.basename, definition);
    else {
      specs.set(definition.name, definition);
      declare(definition);
    }
  }
  const created: (readonly TaskSpec[])[] = [];
  for (const name of proof.delayed) {
    const family = families.get(name);
    if (!family) return undefined;
    let subtasks: readonly TaskSpec[];
    try {
      subtasks = await family.create({ declaredTargets: () => [...declared] });
    } catch {
      // What the family reads changed so much it cannot say (a deleted tree): not a no-op.
      return undefined;
    }
    created.push(subtasks);
    for (const spec of subtasks) {
      specs.set(spec.name, spec);
      declare(spec);
    }
  }
  if (definitionsHash(roots, definitions, created) !== proof.definitions) return undefined;
  const { paths, stats, names, results } = proof;
  const stateFiles = new Set(store.stateFiles);
  const changed = new Set<string>();
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    const now = statNumbers(path);
    const at = 3 * i;
    if (now ? now[0] !== stats[at] || now[1] !== stats[at + 1] || now[2] !== stats[at + 2] : stats[at] !== -1) {
      if (stateFiles.has(path)) return undefined; // another run, forget, ignore, clean...
      changed.add(path);
      record(stats, i, now);
    }
  }
  const delta = { changed, definitions: proof.definitions, paths, stats, names, results, delayed: proof.delayed };
  if (changed.size > 0) return delta;
  for (const name of names) {
    for (const check of specs.get(name)?.uptodate ?? []) {
      if (typeof check === 'function' && !(await check())) return delta;
    }
  }
  return { proven: { names, results } };
}

/**
 * The tasks of a run that a proof that no longer proves it all still settles: those whose
 * file_dep and targets kept their stats, that ask no uptodate function, and that no delayed
 * family makes (it makes them afresh when it runs). Each with the result the proof recorded.
 */
export function presumedResults(
  check: Extract<ProofCheck, { changed: Set<string> }>,
  graph: TaskGraph,
): Map<string, Settled> {
  const changed = new Set<string>();
  for (const path of check.changed) changed.add(normalizePath(graph.root, path));
  const touches = (paths: readonly string[]): boolean => paths.some((path) => changed.has(path));
  const presumed = new Map<string, Settled>();
  for (let i = 0; i < check.names.length; i++) {
    const name = check.names[i]!;
    const result = check.results[i]!;
    const node = graph.get(name);
    if (!node || node.delayed || graph.get(basenameOf(name))?.delayed) continue;
    if ((node.spec.uptodate ?? []).some((value) => typeof value === 'function')) continue;
    if (touches(node.fileDeps) || touches(node.targets)) continue;
    presumed.set(name, result);
  }
  return presumed;
}

/**
 * The tasks a proof that no longer proves it all leaves to judge, as nodes made from their
 * definitions alone, when there is no delayed family: those reading or making a changed path,
 * or asking an uptodate function. When each of them is up to date, nothing runs and no other
 * task is reached, so the run needs neither the graph nor the scheduler (a touch, say).
 */
export function tasksToJudge(
  check: Extract<ProofCheck, { changed: Set<string> }>,
  root: string,
  definitions: readonly TaskDefinition[],
): TaskNode[] | undefined {
  if (check.delayed.length > 0) return undefined;
  const changed = new Set<string>();
  for (const path of check.changed) changed.add(normalizePath(root, path));
  const selected = new Set(check.names);
  const nodes: TaskNode[] = [];
  for (const spec of definitions) {
    if (isDelayed(spec)) return undefined;
    if (!selected.has(spec.name)) continue;
    const asks = (spec.uptodate ?? []).some((value) => typeof value === 'function');
    const touches = (paths: readonly string[] = []): boolean =>
      paths.some((path) => changed.has(normalizePath(root, path)));
    if (!asks && !touches(spec.file_dep) && !touches(spec.targets)) continue;
    const normal = (paths: readonly string[] = []): string[] => paths.map((path) => normalizePath(root, path));
    nodes.push({
      name: spec.name,
      index: nodes.length,
      spec,
      generated: false,
      fileDeps: normal(spec.file_dep),
      targets: normal(spec.targets),
    });
  }
  return nodes;
}
