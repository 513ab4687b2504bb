// The task model: what a task family declares. Field names follow doit's so that a
// reader who knows dodo.py files finds the same words (file_dep, task_dep, uptodate...).

/** What an action receives while it runs. */
export interface ActionContext {
  /** Full task name, e.g. `salt_tree:top.sls`. */
  readonly task: string;
  /** The project root: relative paths in the task are relative to it; it is the cwd of commands. */
  readonly root: string;
  readonly targets: readonly string[];
  readonly file_dep: readonly string[];
  /** file_dep entries whose content changed since the last success (all of them on a first run). */
  readonly changed: readonly string[];
  /** Aborted on Ctrl-C: long actions should stop and let the engine clean up. */
  readonly signal: AbortSignal;
  /** Appends a line to the task's captured output (shown with -v, on failure, in the JSON report). */
  log(message: string): void;
  /** Reports progress in bytes (or items) for the live progress line. */
  progress(done: number, total?: number): void;
}

export type FunctionAction = (context: ActionContext) => unknown;

/** A program and its arguments, run without a shell. */
export type ArgvAction = readonly string[];

/** A command line for /bin/sh, for the rare action that needs pipes or globbing. */
export interface ShellAction {
  readonly shell: string;
}

export interface CommandOptions {
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export type Action = FunctionAction | ArgvAction | ShellAction | CommandOptions;

/**
 * An uptodate entry. `false` forces a run every time; a function is asked whether the task is
 * still up to date; any other value is recorded, and a change of it forces a re-run
 * (a version string, a configuration object, `true` for "once").
 */
export type UptodateValue = boolean | string | number | null | object | (() => boolean | Promise<boolean>);

export type CleanFunction = (context: {
  root: string;
  targets: readonly string[];
  dryRun: boolean;
  log: (m: string) => void;
}) => unknown;

export interface TaskSpec {
  /** `basename` or `basename:sub`; a leading `_` marks a private task (hidden by `list`). */
  name: string;
  doc?: string;
  /** Shown instead of the name in progress output. */
  title?: string;
  actions?: readonly Action[];
  file_dep?: readonly string[];
  /** Tasks that must run first; `*` and `?` wildcards select several (e.g. `_image_pull:*`). */
  task_dep?: readonly string[];
  targets?: readonly string[];
  uptodate?: readonly UptodateValue[];
  /** true: remove the targets (directories only when empty); a function: custom cleaning. */
  clean?: boolean | CleanFunction;
  /**
   * true: its targets follow from its inputs alone (file_dep contents, uptodate values, actions),
   * so a shared result cache (Project.cache) may hand them over instead of running the actions.
   */
  cache?: boolean;
}

/** What a result cache is asked about: one cacheable task with the key of its current inputs. */
export interface CacheEntry {
  readonly task: string;
  /** Hex sha256 of the task's inputs (cache-key.ts): equal keys, equal targets. */
  readonly key: string;
  /** The targets as the task declares them (absolute, or relative to `root`). */
  readonly targets: readonly string[];
  /** Each target's name in the cache, the same on every runner (`build/...` or `project/...`). */
  readonly names: readonly string[];
  readonly root: string;
}

export interface CacheContext {
  readonly signal: AbortSignal;
  /** A line for the run's warnings (the reporter decides how often it is worth saying). */
  warn(message: string): void;
}

/**
 * Task results shared between build hosts, told to the engine by its project (the engine knows
 * no registry). Neither method may fail the build: a cache that cannot answer says so through
 * `warn` and answers "not there", and the task runs as if there were no cache.
 */
export interface ResultCache {
  /** A run starts: where its warnings go from now on (the cache may be asked before any task is). */
  begin?(context: CacheContext): void;
  /** Puts the entry's targets in place, each verified, or nothing at all; true when it did. */
  restore(entry: CacheEntry, context: CacheContext): Promise<boolean>;
  /** Offers the targets a successful run has just written. */
  save(entry: CacheEntry, context: CacheContext): Promise<void>;
}

/** What a delayed family may know of the graph when it creates its subtasks. */
export interface GraphView {
  /** Every target declared so far, normalized (relative to the root when inside it). */
  declaredTargets(): readonly string[];
}

/**
 * Subtasks of `basename` created only when needed: once the tasks named in `after` have run
 * (doit's create_after), e.g. for a task whose file_dep is "every file of the ISO tree".
 * Declaring one with `after: []` is also how a family whose listing is costly stays lazy.
 */
export interface DelayedTasks {
  basename: string;
  doc?: string;
  after: readonly string[];
  create: (graph: GraphView) => readonly TaskSpec[] | Promise<readonly TaskSpec[]>;
}

export type TaskDefinition = TaskSpec | DelayedTasks;

export function isDelayed(definition: TaskDefinition): definition is DelayedTasks {
  return 'create' in definition;
}

export function basenameOf(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(0, colon);
}

export function isPrivate(name: string): boolean {
  return name.startsWith('_');
}

export function isSubtask(name: string): boolean {
  return name.includes(':');
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[^\s]+)?$/;

export function validateName(name: unknown, where: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new Error(`${where}: invalid task name ${JSON.stringify(name)} (expected basename or basename:sub)`);
  }
  return name;
}
