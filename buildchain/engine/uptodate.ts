// Why a task must run, or proof that it need not: doit's rules, with content digests that are
// computed only when a file's mtime, size or inode moved, and shared by every task using the file.
// A file is read at most once per run whatever its names (hard links share one inode), and not at
// all when the project already knows its content (a hard link to its content store).
// The common case (nothing to hash, no async uptodate check) is decided synchronously: a no-op
// build of thousands of tasks then costs no promise per task.
import { statFile, type FileStat, type KnownDigest } from '../fs/stat-numbers.ts';
import { limitConcurrency } from '../concurrency.ts';
import { sha256File } from '../store/sha256.ts';
import { absolutePath, type TaskNode } from './graph.ts';
import type { StateStore, TaskRecord } from './state.ts';
import type { Action, UptodateValue } from './task.ts';

type Maybe<T> = T | Promise<T>;

const isPromise = <T>(value: Maybe<T>): value is Promise<T> => value instanceof Promise;

export class FileDigests {
  /** Digests computed during this process, so a file is hashed at most once per change. */
  private readonly fresh = new Map<string, Maybe<string | undefined>>();
  /** One stat per path and process: a copy's target is often another task's file_dep. */
  private readonly stats = new Map<string, FileStat | undefined>();
  /** Digests by inode: the ISO tree names one layer once per image that has it, all hard links. */
  private readonly byInode = new Map<string, Maybe<string>>();
  /** Paths written by this run's tasks. */
  private readonly rewritten = new Set<string>();
  /** A task with 20,000 file_dep must not open 20,000 files at once (EMFILE). */
  private readonly hashing = limitConcurrency(16);

  /**
   * `persist: false` for read-only commands (info): nothing is written to the state.
   * `knownDigest`: the project's hex sha256 of a file it already knows by its stat (Project.knownDigest).
   */
  constructor(
    private readonly root: string,
    private readonly state: StateStore,
    private readonly persist = true,
    private readonly knownDigest?: KnownDigest,
  ) {}

  /** Content digest of the file now (undefined when it does not exist); a promise only when hashing. */
  digest(path: string): Maybe<string | undefined> {
    let known = this.fresh.get(path);
    if (known === undefined && !this.fresh.has(path)) {
      known = this.compute(path);
      this.fresh.set(path, known);
    }
    return known;
  }

  /** The stat this process last saw of a path (as it is now when it rewrote it): null when it never looked. */
  observed(path: string): FileStat | undefined | null {
    if (this.stats.has(path)) return this.stats.get(path);
    return this.rewritten.has(path) ? this.stat(path) : null;
  }

  /** Every path this process stat'ed or rewrote. */
  observedPaths(): Iterable<string> {
    return new Set([...this.stats.keys(), ...this.rewritten]);
  }

  exists(path: string): boolean {
    return this.stat(path) !== undefined;
  }

  /** Forget what this process knows of a path (its producer has just rewritten it). */
  invalidate(path: string): void {
    this.fresh.delete(path);
    this.stats.delete(path);
    this.rewritten.add(path);
  }

  private stat(path: string): FileStat | undefined {
    if (this.stats.has(path)) return this.stats.get(path);
    const stats = statFile(absolutePath(this.root, path));
    this.stats.set(path, stats);
    return stats;
  }

  private compute(path: string): Maybe<string | undefined> {
    const stats = this.stat(path);
    if (!stats) return undefined;
    if (stats.directory) return 'directory';
    const known = this.state.file(path);
    if (known && known[0] === stats.mtimeMs && known[1] === stats.size && known[2] === stats.ino) return known[3];
    const record = (digest: string): string => {
      if (this.persist) this.state.setFile(path, [stats.mtimeMs, stats.size, stats.ino, digest]);
      return digest;
    };
    const told = this.knownDigest?.(stats);
    if (told !== undefined) return record(shortDigest(told));
    // Size, mtime and ctime in the key too: an inode freed and reused within the run by a file of
    // the same size and stamped mtime still has another ctime (links made since cost a hash, no more).
    const inode = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
    let digest = this.byInode.get(inode);
    if (digest === undefined) {
      digest = this.hashing(() => sha256File(absolutePath(this.root, path), stats.size)).then(shortDigest);
      this.byInode.set(inode, digest);
    }
    return isPromise(digest) ? digest.then(record) : record(digest);
  }
}

/** 128 bits of a hex sha256 in base64url: plenty to detect a change, a third of the state size. */
export function shortDigest(hex: string): string {
  return Buffer.from(hex.slice(0, 32), 'hex').toString('base64url');
}

/**
 * A fast 106-bit string hash (two 53-bit lanes of cyrb53) for change detection of definitions:
 * no native call per task, unlike crypto, and collisions are out of practical reach.
 */
export function quickHash(text: string): string {
  const lane = (seed: number): number => {
    let h1 = 0xdeadbeef ^ seed;
    let h2 = 0x41c6ce57 ^ seed;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  };
  return `${lane(0).toString(36)}.${lane(1).toString(36)}`;
}

/** The recorded part of a task's definition: uptodate values and command lines. */
export function taskSignature(uptodate: readonly UptodateValue[] = [], actions: readonly Action[] = []): string {
  if (uptodate.length === 0 && actions.every((action) => typeof action === 'function')) return '';
  const values = uptodate.filter((value) => typeof value !== 'function' && typeof value !== 'boolean');
  const commands = actions.filter((action) => typeof action !== 'function');
  return values.length === 0 && commands.length === 0 ? '' : quickHash(JSON.stringify([values, commands]));
}

export interface Verdict {
  /** Empty when the task is up to date. */
  reasons: string[];
  /** What a success records. */
  record: TaskRecord;
  /** file_dep entries that changed since the last success (all of them on a first run). */
  changed: string[];
  /** file_dep entries that do not exist: the task cannot run. */
  missing: string[];
}

/**
 * Decides whether `node` must run, with every reason (info prints them all). The file_dep
 * digests are computed either way: a successful run records them.
 */
export function judge(node: TaskNode, state: StateStore, files: FileDigests): Maybe<Verdict> {
  const digests = node.fileDeps.map((path) => files.digest(path));
  const checks = (node.spec.uptodate ?? []).filter((value) => typeof value === 'function').map((check) => check());
  if (digests.some(isPromise) || checks.some(isPromise)) {
    return Promise.all([Promise.all(digests), Promise.all(checks)]).then(([d, c]) => decide(node, state, files, d, c));
  }
  return decide(node, state, files, digests as (string | undefined)[], checks as boolean[]);
}

function decide(
  node: TaskNode,
  state: StateStore,
  files: FileDigests,
  digests: (string | undefined)[],
  checks: boolean[],
): Verdict {
  const spec = node.spec;
  const uptodate = spec.uptodate ?? [];
  const signature = taskSignature(uptodate, spec.actions);
  const depPaths = node.fileDeps.length === 0 ? '' : quickHash(node.fileDeps.join('\0'));
  const previous = state.task(node.name);
  const samePaths = previous !== undefined && previous[1] === depPaths;
  const reasons: string[] = [];
  const changed: string[] = [];
  const missing: string[] = [];
  const recorded: string[] = [];

  node.fileDeps.forEach((path, i) => {
    const digest = digests[i];
    if (digest === undefined) missing.push(path);
    else if (!samePaths || previous[2][i] !== digest) changed.push(path);
    recorded.push(digest ?? '');
  });

  if (!previous) reasons.push('it never succeeded');
  if (node.fileDeps.length === 0 && uptodate.length === 0)
    reasons.push('it has no file_dep nor uptodate (always runs)');
  if (uptodate.includes(false)) reasons.push('an uptodate entry is false');
  if (checks.includes(false)) reasons.push('an uptodate check answered false');
  if (previous && previous[0] !== signature) reasons.push('its uptodate values or commands changed');
  for (const target of node.targets) {
    if (!files.exists(target)) reasons.push(`target missing: ${target}`);
  }
  if (previous && !samePaths) reasons.push('its file_dep list changed');
  if (previous && samePaths) for (const path of changed) reasons.push(`file_dep changed: ${path}`);
  for (const path of missing) reasons.push(`file_dep missing: ${path}`);
  return { reasons, record: [signature, depPaths, recorded], changed, missing };
}
