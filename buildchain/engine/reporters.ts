// Console reporter with doit's prefixes (`..` executed, `--` up to date, `!!` ignored) and a live
// progress line on a terminal; JSON reporter that prints one document at the end.
import type { Writable } from 'node:stream';
import { countResults, type Reporter, type RunSummary, type TaskReport } from './report.ts';
import type { Verbosity } from './actions.ts';
import { formatBytes, openProgressLine, showsLiveLine, type ProgressLine } from '../progress-line.ts';

export async function createConsoleReporter(options: {
  verbosity: Verbosity;
  out?: Writable;
  err?: NodeJS.WriteStream;
}): Promise<Reporter> {
  const err = options.err ?? process.stderr;
  // The live line would be torn by action output streamed under it.
  const live = showsLiveLine(err) && options.verbosity === 0 ? await openProgressLine(err) : undefined;
  return new ConsoleReporter(options.out ?? process.stdout, err, options.verbosity, live);
}

const FAILURE_RULE = '#'.repeat(40);

/**
 * A cause with the items (its indented lines: a registry, a repository...) that an earlier
 * failure of the same run already named left out, so that each is said once; `named` collects them.
 */
export function withoutRepeats(message: string, named: Set<string>): string {
  const out: string[] = [];
  let repeated = 0;
  const closeSection = (): void => {
    if (repeated > 0) out.push(`  (and ${repeated} named above)`);
    repeated = 0;
  };
  for (const line of message.split('\n')) {
    if (!line.startsWith('  ')) closeSection();
    else if (named.has(line)) {
      repeated += 1;
      continue;
    }
    out.push(line);
  }
  closeSection();
  for (const line of message.split('\n')) if (line.startsWith('  ')) named.add(line);
  return out.join('\n');
}

class ConsoleReporter implements Reporter {
  private total = 0;
  private finished = 0;
  private readonly running = new Map<string, { done: number; total?: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: Writable,
    private readonly err: Writable,
    private readonly verbosity: Verbosity,
    private readonly live: ProgressLine | undefined,
  ) {}

  runStarted(total: number): void {
    this.total = total;
    if (this.live) this.timer = setInterval(() => this.redraw(), 100).unref();
  }

  totalChanged(total: number): void {
    this.total = total;
  }

  taskExecuting(name: string, title: string): void {
    this.running.set(name, { done: 0 });
    this.line(this.out, `.. ${title}`);
  }

  progress(name: string, done: number, total?: number): void {
    const entry = this.running.get(name);
    if (entry) Object.assign(entry, { done, total });
  }

  taskFinished(report: TaskReport): void {
    this.finished += 1;
    this.running.delete(report.name);
    if (report.result === 'up-to-date') this.line(this.out, `-- ${report.name}`);
    else if (report.cached) this.line(this.out, `.. ${report.name} (from the cache)`);
    else if (report.result === 'ignore') this.line(this.out, `!! ${report.name}`);
    // The cause is said once, in the summary at the end.
    else if (report.result === 'fail') this.line(this.err, `FAILED ${report.name} (the cause is below)`);
  }

  warn(message: string): void {
    this.line(this.err, `warning: ${message}`);
  }

  runFinished(summary: RunSummary): void {
    if (this.timer) clearInterval(this.timer);
    this.live?.done();
    this.flush();
    const failed = summary.tasks.filter((task) => task.result === 'fail');
    const named = new Set<string>();
    for (const task of failed) {
      const parts = [FAILURE_RULE, `${task.name}: ${withoutRepeats(task.error ?? 'failed', named)}`];
      // What was not shown as it came is shown now.
      if (task.err && this.verbosity === 0) parts.push(`${task.name} <stderr>:`, task.err.trimEnd());
      if (task.out && this.verbosity < 2) parts.push(`${task.name} <stdout>:`, task.out.trimEnd());
      this.err.write(`${parts.join('\n')}\n`);
    }
    if (!summary.ok) {
      const skipped = summary.tasks.filter((task) => task.result === 'skipped').map((task) => task.name);
      this.err.write(
        `${FAILURE_RULE}\n${summary.interrupted ? 'interrupted' : 'build failed'}: ${failed.length} failed` +
          (failed.length ? ` (${failed.map((task) => task.name).join(', ')})` : '') +
          `, ${skipped.length} not run because a dependency failed, ${countResults(summary, 'success')} succeeded, ` +
          `${countResults(summary, 'up-to-date')} up to date, in ${summary.elapsed.toFixed(1)} s\n`,
      );
      const settings = [...new Set(failed.flatMap((task) => task.settings ?? []))];
      if (settings.length > 0)
        this.err.write(`add to .env (or set in the environment), then run again:\n${settings.join('\n')}\n`);
    }
  }

  /** Lines waiting to be written, per stream: one write per batch instead of one per task. */
  private readonly buffered = new Map<Writable, string[]>();
  private flushScheduled = false;

  private line(stream: Writable, text: string): void {
    if (this.live) {
      this.live.clear();
      stream.write(`${text}\n`);
      this.redraw();
      return;
    }
    const lines = this.buffered.get(stream);
    if (lines) lines.push(text);
    else this.buffered.set(stream, [text]);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [stream, lines] of this.buffered) stream.write(`${lines.join('\n')}\n`);
    this.buffered.clear();
  }

  private redraw(): void {
    if (!this.live || this.total === 0) return;
    const names = [...this.running.keys()];
    let bytesDone = 0;
    let bytesTotal = 0;
    for (const entry of this.running.values()) {
      bytesDone += entry.done;
      bytesTotal += entry.total ?? 0;
    }
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ` (+${names.length - 3})` : '');
    const bytes = bytesTotal > 0 ? ` · ${formatBytes(bytesDone)} / ${formatBytes(bytesTotal)}` : '';
    this.live.render(`[${this.finished}/${this.total}]${shown ? ` ${shown}` : ''}${bytes}`);
  }
}

/** doit's `--reporter json`: one document on stdout once the run is over. */
export class JsonReporter implements Reporter {
  private readonly warnings: string[] = [];
  constructor(private readonly out: Writable = process.stdout) {}

  runStarted(): void {}
  totalChanged(): void {}
  taskExecuting(): void {}
  taskFinished(): void {}
  progress(): void {}

  warn(message: string): void {
    this.warnings.push(message);
  }

  runFinished(summary: RunSummary): void {
    const document = {
      ok: summary.ok,
      interrupted: summary.interrupted,
      proven: summary.proven,
      elapsed: summary.elapsed,
      counts: {
        total: summary.tasks.length,
        success: countResults(summary, 'success'),
        'up-to-date': countResults(summary, 'up-to-date'),
        fail: countResults(summary, 'fail'),
        skipped: countResults(summary, 'skipped'),
        ignore: countResults(summary, 'ignore'),
        interrupted: countResults(summary, 'interrupted'),
      },
      warnings: this.warnings,
      tasks: summary.tasks.map((task) => ({
        name: task.name,
        result: task.result,
        reasons: task.reasons,
        executed: task.executed,
        cached: task.cached ?? false,
        started: task.started === undefined ? null : new Date(task.started).toISOString(),
        elapsed: task.elapsed ?? 0,
        out: task.out,
        err: task.err,
        error: task.error ?? null,
        settings: task.settings ?? [],
      })),
    };
    this.out.write(`${JSON.stringify(document, null, 2)}\n`);
  }
}
