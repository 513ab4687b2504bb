// Timing whole commands with hyperfine, the anchor and ours in the same invocation.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from '../buildchain/tools.ts';

export interface Timed {
  /** Mean wall time, seconds. */
  mean: number;
  /** Median wall time, seconds: the figure to compare where the machine's I/O is noisy. */
  median: number;
  min: number;
  stddev: number;
  runs: number;
}

export interface Contender {
  name: string;
  command: string;
  /** Run before each timed run (not timed). */
  prepare?: string;
}

/** Times each contender with hyperfine; returns name -> timing. */
export function compare(contenders: readonly Contender[], options: { runs: number; warmup: number; workDir: string }): Record<string, Timed> {
  // hyperfine wants as many --prepare as commands, or one for all: give each one explicitly.
  if (contenders.some((c) => c.prepare) && !contenders.every((c) => c.prepare)) {
    throw new Error('either every contender has a prepare command, or none has');
  }
  const hyperfine = requireExecutable('hyperfine');
  const exportFile = join(options.workDir, `hyperfine-${process.pid}.json`);
  const args = ['--style', 'basic', '--runs', String(options.runs), '--warmup', String(options.warmup), '--export-json', exportFile];
  for (const contender of contenders) {
    if (contender.prepare) args.push('--prepare', contender.prepare);
    args.push('--command-name', contender.name, contender.command);
  }
  const result = spawnSync(hyperfine, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`hyperfine failed (exit ${result.status})`);
  const report = JSON.parse(readFileSync(exportFile, 'utf8')) as { results: { command: string; mean: number; median: number; min: number; stddev: number; times: number[] }[] };
  return Object.fromEntries(report.results.map((r) => [r.command, { mean: r.mean, median: r.median, min: r.min, stddev: r.stddev, runs: r.times.length }]));
}
