// What a run produces, and the interface reporters implement (console, JSON).

/** doit's result words, plus `skipped` (a dependency failed) and `interrupted` (Ctrl-C). */
export type TaskResult = 'success' | 'up-to-date' | 'fail' | 'ignore' | 'skipped' | 'interrupted';

export interface TaskReport {
  name: string;
  result: TaskResult;
  /** Why it ran (or why it failed before running). */
  reasons: string[];
  /** True when actions were executed (group tasks have none). */
  executed: boolean;
  /** True when its targets came from the result cache instead of its actions. */
  cached?: boolean;
  /** Epoch milliseconds when its actions started. */
  started?: number;
  /** Seconds spent in its actions. */
  elapsed?: number;
  out: string;
  err: string;
  error?: string;
  /** The `.env` lines that would fix the failure (BuildError's settings). */
  settings?: readonly string[];
}

/** The report of a task whose actions did not run (up to date, skipped, ignored...). */
export function emptyReport(name: string, result: TaskResult, reasons: string[]): TaskReport {
  return { name, result, reasons, executed: false, out: '', err: '' };
}

export function countResults(summary: RunSummary, result: TaskResult): number {
  return summary.tasks.filter((task) => task.result === result).length;
}

export interface RunSummary {
  tasks: TaskReport[];
  /** Seconds for the whole run. */
  elapsed: number;
  interrupted: boolean;
  ok: boolean;
  /** True when a no-op proof showed that nothing changed since the last run (see noop.ts). */
  proven: boolean;
}

export interface Reporter {
  runStarted(total: number): void;
  /** The set of tasks grew (a delayed family created its subtasks). */
  totalChanged(total: number): void;
  taskExecuting(name: string, title: string): void;
  taskFinished(report: TaskReport): void;
  progress(name: string, done: number, total?: number): void;
  runFinished(summary: RunSummary): void;
  /** A message that is not about one task (a warning about the state file, say). */
  warn(message: string): void;
}

/** A task as `--reporter json` writes it: what phase timings read. */
export interface JsonTaskReport {
  name: string;
  executed: boolean;
  /** ISO 8601, or null when its actions did not run. */
  started: string | null;
  elapsed: number;
}

/**
 * Seconds from the first start to the last end of the executed tasks each pattern matches (0 when
 * none ran): the span of a phase of a run (pull, packages, ISO write) in parallel builds.
 */
export function phaseSpans<K extends string>(
  tasks: readonly JsonTaskReport[],
  phases: Readonly<Record<K, RegExp>>,
): Record<K, number> {
  const spans = {} as Record<K, number>;
  for (const [phase, pattern] of Object.entries(phases) as [K, RegExp][]) {
    const ran = tasks.filter((task) => pattern.test(task.name) && task.executed && task.started);
    const start = Math.min(...ran.map((task) => Date.parse(task.started!)));
    const end = Math.max(...ran.map((task) => Date.parse(task.started!) + task.elapsed * 1000));
    spans[phase] = ran.length === 0 ? 0 : Math.round(end - start) / 1000;
  }
  return spans;
}
