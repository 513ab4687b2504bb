// Why a task must run, or proof that it need not: doit's rules, with content digests that are
// computed only when a file's mtime, size or inode moved, and shared by every task using the file.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { sha256File, sha256Text } from '../fs/hash.ts';
import type { TaskNode } from './graph.ts';
import type { StateStore, TaskRecord } from './state.ts';
import type { Action, UptodateValue } from './task.ts';

export class FileDigests {
  /** Digests computed during this process, so a file is hashed at most once per change. */
  private readonly fresh = new Map<string, Promise<string | undefined>>();

  /** `persist: false` for read-only commands (info): nothing is written to the state. */
  constructor(private readonly root: string, private readonly state: StateStore, private readonly persist = true) {}

  /** sha256 of the file now, or undefined when it does not exist. */
  digest(path: string): Promise<string | undefined> {
    let pending = this.fresh.get(path);
    if (!pending) {
      pending = this.compute(path);
      this.fresh.set(path, pending);
    }
    return pending;
  }

  /** Forget what this process knows of a path (its producer is about to rewrite it). */
  invalidate(path: string): void {
    this.fresh.delete(path);
  }

  private async compute(path: string): Promise<string | undefined> {
    const stats = statSync(resolve(this.root, path), { throwIfNoEntry: false });
    if (!stats) return undefined;
    const known = this.state.file(path);
    if (known && known.mtimeMs === stats.mtimeMs && known.size === stats.size && known.ino === stats.ino) {
      return known.sha256;
    }
    if (stats.isDirectory()) return 'directory';
    const sha256 = await sha256File(resolve(this.root, path), stats.size);
    if (this.persist) this.state.setFile(path, { mtimeMs: stats.mtimeMs, size: stats.size, ino: stats.ino, sha256 });
    return sha256;
  }
}

/** The recorded part of a task's definition: uptodate values and command lines. */
export function taskSignature(uptodate: readonly UptodateValue[] = [], actions: readonly Action[] = []): string {
  const values = uptodate.filter((value) => typeof value !== 'function' && typeof value !== 'boolean');
  const commands = actions.filter((action) => typeof action !== 'function');
  return sha256Text(JSON.stringify([values, commands]));
}

export interface Verdict {
  /** Empty when the task is up to date. */
  reasons: string[];
  /** Current digest of each file_dep, recorded on success. */
  deps: Record<string, string>;
  /** file_dep entries that changed since the last success. */
  changed: string[];
  signature: string;
  /** A file_dep that does not exist: the task cannot run. */
  missing: string[];
}

/**
 * Decides whether `node` must run. With `all`, every reason is collected (for `info`);
 * otherwise the first one is enough, but the file_dep digests are still computed because a
 * successful run records them.
 */
export async function judge(node: TaskNode, state: StateStore, files: FileDigests, root: string): Promise<Verdict> {
  const spec = node.spec;
  const uptodate = spec.uptodate ?? [];
  const signature = taskSignature(uptodate, spec.actions);
  const record: TaskRecord | undefined = state.task(node.name);
  const reasons: string[] = [];
  const deps: Record<string, string> = {};
  const changed: string[] = [];
  const missing: string[] = [];

  const digests = await Promise.all(node.fileDeps.map((path) => files.digest(path)));
  node.fileDeps.forEach((path, i) => {
    const digest = digests[i];
    if (digest === undefined) {
      missing.push(path);
      return;
    }
    deps[path] = digest;
    if (!record || record.deps[path] !== digest) changed.push(path);
  });

  if (!record) reasons.push('it never succeeded');
  if (node.fileDeps.length === 0 && uptodate.length === 0) reasons.push('it has no file_dep nor uptodate (always runs)');
  for (const value of uptodate) {
    if (value === false) reasons.push('an uptodate entry is false');
    if (typeof value === 'function' && !(await value())) reasons.push('an uptodate check answered false');
  }
  if (record && record.signature !== signature) reasons.push('its uptodate values or commands changed');
  for (const target of node.targets) {
    if (!statSync(resolve(root, target), { throwIfNoEntry: false })) reasons.push(`target missing: ${target}`);
  }
  if (record) {
    for (const path of changed) reasons.push(`file_dep changed: ${path}`);
    for (const path of Object.keys(record.deps)) {
      if (!(path in deps) && !missing.includes(path)) reasons.push(`file_dep removed: ${path}`);
    }
  }
  for (const path of missing) reasons.push(`file_dep missing: ${path}`);
  return { reasons, deps, changed, signature, missing };
}
