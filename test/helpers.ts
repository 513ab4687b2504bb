// Shared test helpers: temp dirs, real tools (a missing one fails with its apt-get line),
// the engine in-process with a recording reporter, and the real CLI as a child process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach } from 'vitest';
import { Engine, type Project, type ProjectCache } from '../buildchain/engine/engine.ts';
import type { Reporter, RunSummary, TaskReport } from '../buildchain/engine/report.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { requireExecutable } from '../buildchain/tools.ts';

export const PROJECT_ROOT = resolve(import.meta.dirname, '..');

const cleanups: string[] = [];
afterEach(() => {
  for (const dir of cleanups.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory removed after the test. */
export function tempDir(prefix = 'mk8s-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(dir);
  return dir;
}

/** The absolute path of a real tool; a missing one fails the test with the line that installs it. */
export function requireTool(name: string): string {
  return requireExecutable(name);
}

export class RecordingReporter implements Reporter {
  readonly executed: string[] = [];
  readonly finished: TaskReport[] = [];
  readonly warnings: string[] = [];
  summary: RunSummary | undefined;
  runStarted(): void {}
  totalChanged(): void {}
  progress(): void {}
  taskExecuting(name: string): void {
    this.executed.push(name);
  }
  taskFinished(report: TaskReport): void {
    this.finished.push(report);
  }
  warn(message: string): void {
    this.warnings.push(message);
  }
  runFinished(summary: RunSummary): void {
    this.summary = summary;
  }
  result(name: string): TaskReport['result'] | undefined {
    return this.finished.find((report) => report.name === name)?.result;
  }
}

/** Runs tasks in-process on a project rooted at `root` (BUILD_ROOT = root/_build unless given). */
export async function runEngine(
  root: string,
  definitions: readonly TaskDefinition[],
  tasks: readonly string[],
  options: {
    workers?: number;
    signal?: AbortSignal;
    buildRoot?: string;
    cache?: ProjectCache;
    knownDigest?: Project['knownDigest'];
  } = {},
): Promise<RecordingReporter> {
  const engine = new Engine({
    root,
    buildRoot: options.buildRoot ?? join(root, '_build'),
    definitions,
    defaultTasks: [],
    ...(options.cache ? { cache: options.cache } : {}),
    ...(options.knownDigest ? { knownDigest: options.knownDigest } : {}),
  });
  const reporter = new RecordingReporter();
  await engine.run({
    tasks,
    workers: options.workers ?? 2,
    reporter,
    verbosity: 0,
    lockWaitSeconds: 0,
    signal: options.signal ?? new AbortController().signal,
  });
  return reporter;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs ./build.ts (or another entry, relative to the project or absolute) as a user would, through its shebang. */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; entry?: string } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(resolve(PROJECT_ROOT, options.entry ?? 'build.ts'), args, {
      cwd: options.cwd ?? PROJECT_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}
