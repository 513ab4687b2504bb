// No-op proofs. The most frequent build is the one where nothing changed; proving that task by
// task costs a graph, the state and a verdict per task. So a run in which every selected task
// ended up to date (or ran, and will be up to date next time) records what it observed: a hash
// of the definitions, and the stat (mtime, size, inode) of every file_dep and target, plus the
// state files themselves. The next run with the same selection that finds the same definitions
// and the same stats, and whose uptodate functions still answer true, is a no-op by the normal
// rules, and reports it without loading the state. Any change anywhere falls back to the normal
// rules: a changed file, definition or stat, or any change of the state (a run that executed a
// task, forget, ignore, clean), since the state files are in the observed set.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { statNumbers } from '../fs/stat-numbers.ts';
import { normalizePath, type TaskGraph, type TaskNode } from './graph.ts';
import type { TaskReport, TaskResult } from './report.ts';
import { basenameOf, isDelayed, type DelayedTasks, type TaskDefinition, type TaskSpec } from './task.ts';
import { quickHash } from './uptodate.ts';

const FORMAT = 1;

/** [absolute path, mtimeMs, size, ino]; -1s for a path that must not exist. */
type Observation = [string, number, number, number];

interface Proof {
  format: typeof FORMAT;
  definitions: string;
  /** Delayed families of the selection, whose created subtasks are part of `definitions`. */
  delayed: string[];
  files: Observation[];
  /** What a no-op run reports for each task, in the order the proving run settled them. */
  tasks: [string, Extract<TaskResult, 'up-to-date' | 'success'>][];
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

function observe(path: string, stats: Stats | undefined): Observation {
  return stats ? [path, stats.mtimeMs, stats.size, stats.ino] : [path, -1, -1, -1];
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
  observed: (path: string) => Stats | undefined | null,
  seen?: ReadonlyMap<string, Observation>,
): void {
  const tasks: Proof['tasks'] = [];
  const delayed: string[] = [];
  const paths = new Set<string>();
  for (const report of reports) {
    if (report.result !== 'up-to-date' && report.result !== 'success') return; // ignored, failed...
    const { name } = report;
    const node = graph.get(name)!;
    const result = nextResult(node);
    if (!result) return;
    if (node.delayed) delayed.push(name);
    tasks.push([name, result]);
    for (const path of node.fileDeps) paths.add(path);
    for (const path of node.targets) paths.add(path);
  }
  const created = delayed.map((name) => graph.subtasksOf(name).map((sub) => graph.get(sub)!.spec));
  const hash = definitionsHash(roots, definitions, created);
  if (hash === undefined) return;
  const files = [...paths].map((path) => {
    const stats = observed(path);
    const absolute = resolve(graph.root, path);
    if (stats !== null) return observe(absolute, stats);
    return seen?.get(absolute) ?? observe(absolute, statSync(absolute, { throwIfNoEntry: false }));
  });
  for (const path of store.stateFiles) files.push(observe(path, statSync(path, { throwIfNoEntry: false })));
  const proof: Proof = { format: FORMAT, definitions: hash, delayed, files, tasks };
  const path = proofPath(store.engineDir, roots);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(`${path}.tmp`, serialize(proof));
  renameSync(`${path}.tmp`, path);
}

/** What a proof says of the run about to start. */
export type ProofCheck =
  /** Nothing changed: the results of a no-op run of the selection. */
  | { proven: Proof['tasks'] }
  /**
   * Only files changed (the definitions and the state did not), or an uptodate function that may
   * now answer false: the tasks that touch neither are settled as the proving run left them.
   */
  | { changed: Set<string>; results: Proof['tasks']; seen: ReadonlyMap<string, Observation> };

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
  const declare = (spec: TaskSpec): void => {
    for (const target of spec.targets ?? []) declared.push(normalizePath(store.root, target));
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
  const stateFiles = new Set(store.stateFiles);
  const changed = new Set<string>();
  const seen = new Map<string, Observation>();
  for (const observation of proof.files) {
    const [path, mtimeMs, size, ino] = observation;
    const now = statNumbers(path);
    if (now ? now[0] !== mtimeMs || now[1] !== size || now[2] !== ino : mtimeMs !== -1) {
      if (stateFiles.has(path)) return undefined; // another run, forget, ignore, clean...
      changed.add(path);
      seen.set(path, now ? [path, ...now] : [path, -1, -1, -1]);
    } else seen.set(path, observation);
  }
  if (changed.size > 0) return { changed, results: proof.tasks, seen };
  for (const [name] of proof.tasks) {
    for (const check of specs.get(name)?.uptodate ?? []) {
      if (typeof check === 'function' && !(await check())) return { changed, results: proof.tasks, seen };
    }
  }
  return { proven: proof.tasks };
}

/**
 * The tasks of a run that a proof that no longer proves it all still settles: those whose
 * file_dep and targets kept their stats, that ask no uptodate function, and that no delayed
 * family makes (it makes them afresh when it runs). Each with the result the proof recorded.
 */
export function presumedResults(
  check: Extract<ProofCheck, { changed: Set<string> }>,
  graph: TaskGraph,
): Map<string, 'up-to-date' | 'success'> {
  const changed = new Set<string>();
  for (const path of check.changed) changed.add(normalizePath(graph.root, path));
  const touches = (paths: readonly string[]): boolean => paths.some((path) => changed.has(path));
  const presumed = new Map<string, 'up-to-date' | 'success'>();
  for (const [name, result] of check.results) {
    const node = graph.get(name);
    if (!node || node.delayed || graph.get(basenameOf(name))?.delayed) continue;
    if ((node.spec.uptodate ?? []).some((value) => typeof value === 'function')) continue;
    if (touches(node.fileDeps) || touches(node.targets)) continue;
    presumed.set(name, result);
  }
  return presumed;
}
