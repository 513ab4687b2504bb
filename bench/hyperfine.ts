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
  /** Mean CPU time of a run (user + system, the command's children included), seconds: from `compare` only. */
  cpu?: number;
}

export interface Contender {
  name: string;
  command: string;
  /** Run before each timed run (not timed). */
  prepare?: string;
}

/** Times each contender with hyperfine; returns name -> timing. */
export function compare(
  contenders: readonly Contender[],
  options: { runs: number; warmup: number; workDir: string },
): Record<string, Timed> {
  return Object.fromEntries(
    Object.entries(hyperfineRuns(contenders, options)).map(([name, { times, cpu }]) => [
      name,
      { ...summarize(times), cpu },
    ]),
  );
}

/**
 * Times the contenders in rounds, each round running every one once, in an order that rotates
 * from round to round: where the machine's I/O speed drifts over minutes (it does here), each
 * contender sees the same conditions, which consecutive runs of one command do not give.
 * Returns the timings and, per round, the times by name, to pair them into ratios.
 */
export function compareInterleaved(
  contenders: readonly Contender[],
  options: { rounds: number; warmup: number; workDir: string },
): { timed: Record<string, Timed>; rounds: Record<string, number>[] } {
  if (options.warmup > 0) hyperfineTimes(contenders, { runs: options.warmup, warmup: 0, workDir: options.workDir });
  const rounds: Record<string, number>[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const shift = round % contenders.length;
    const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
    rounds.push(
      Object.fromEntries(
        Object.entries(hyperfineTimes(order, { runs: 1, warmup: 0, workDir: options.workDir })).map(([name, times]) => [
          name,
          times[0]!,
        ]),
      ),
    );
  }
  const timed = Object.fromEntries(contenders.map(({ name }) => [name, summarize(rounds.map((r) => r[name]!))]));
  return { timed, rounds };
}

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function summarize(times: readonly number[]): Timed {
  const mean = times.reduce((sum, t) => sum + t, 0) / times.length;
  const variance = times.length > 1 ? times.reduce((sum, t) => sum + (t - mean) ** 2, 0) / (times.length - 1) : 0;
  return { mean, median: median(times), min: Math.min(...times), stddev: Math.sqrt(variance), runs: times.length };
}

/** Runs hyperfine once over the contenders; returns name -> wall time of each run. */
function hyperfineTimes(
  contenders: readonly Contender[],
  options: { runs: number; warmup: number; workDir: string },
): Record<string, number[]> {
  return Object.fromEntries(Object.entries(hyperfineRuns(contenders, options)).map(([name, r]) => [name, r.times]));
}

/** Runs hyperfine once over the contenders; returns name -> wall time of each run, and mean CPU time. */
function hyperfineRuns(
  contenders: readonly Contender[],
  options: { runs: number; warmup: number; workDir: string },
): Record<string, { times: number[]; cpu: number }> {
  // hyperfine wants as many --prepare as commands, or one for all: give each one explicitly.
  if (contenders.some((c) => c.prepare) && !contenders.every((c) => c.prepare)) {
    throw new Error('either every contender has a prepare command, or none has');
  }
  const hyperfine = requireExecutable('hyperfine');
  const exportFile = join(options.workDir, `hyperfine-${process.pid}.json`);
  const args = [
    '--style',
    'basic',
    '--runs',
    String(options.runs),
    '--warmup',
    String(options.warmup),
    '--export-json',
    exportFile,
  ];
  for (const contender of contenders) {
    if (contender.prepare) args.push('--prepare', contender.prepare);
    args.push('--command-name', contender.name, contender.command);
  }
  const result = spawnSync(hyperfine, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`hyperfine failed (exit ${result.status})`);
  const report = JSON.parse(readFileSync(exportFile, 'utf8')) as {
    results: { command: string; times: number[]; user: number; system: number }[];
  };
  return Object.fromEntries(report.results.map((r) => [r.command, { times: r.times, cpu: r.user + r.system }]));
}
