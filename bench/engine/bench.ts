// bench/engine: our engine against doit on the same graph (N copy tasks + 1 aggregate), timed as
// whole processes in the same hyperfine run: no-op re-run, re-run after touching one source,
// re-run after editing one source, and the cold build with two workers.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from '../../buildchain/tools.ts';
import { compareInterleaved, median, type Timed } from '../hyperfine.ts';

export interface Scenario {
  ours: Timed;
  doit: Timed;
  /** ours / doit, the median of the ratios within each round: below 1 we are faster. */
  ratio: number;
}

export type EngineResults = Record<string, Record<'noop' | 'touch' | 'edit' | 'cold', Scenario>>;

const SCENARIOS = ['noop', 'touch', 'edit', 'cold'] as const;

export function benchEngine(root: string, sizes: readonly number[]): EngineResults {
  const doit = requireExecutable('doit');
  const results: EngineResults = {};
  for (const size of sizes) {
    const dir = join(root, 'bench', 'work', `engine-${size}`);
    rmSync(dir, { recursive: true, force: true });
    const ours = join(dir, 'ours');
    const theirs = join(dir, 'doit');
    for (const side of [ours, theirs]) {
      mkdirSync(join(side, 'src'), { recursive: true });
      for (let i = 0; i < size; i++) {
        const name = String(i).padStart(5, '0');
        writeFileSync(join(side, 'src', name), `source ${name}\n`);
      }
    }
    copyFileSync(join(root, 'bench/engine/dodo.py'), join(theirs, 'dodo.py'));
    writeFileSync(join(ours, 'tasks.ts'), `export * from ${JSON.stringify(join(root, 'bench/engine/graph.ts'))};\n`);
    process.env.BENCH_TASKS = String(size);

    const oursCommand = (workers: string): string => `${join(root, 'build.ts')} -f ${join(ours, 'tasks.ts')}${workers}`;
    const doitCommand = (workers: string): string => `${doit} -f ${join(theirs, 'dodo.py')}${workers}`;
    // First builds, untimed: every later scenario starts from an up-to-date tree.
    for (const command of [oursCommand(''), doitCommand('')]) {
      const run = spawnSync('sh', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
      if (run.status !== 0) throw new Error(`first build failed: ${command}`);
    }

    const small = size <= 2000;
    const scenario = (name: (typeof SCENARIOS)[number]): Scenario => {
      const workers = name === 'cold' ? ' -n 2' : '';
      const prepare = (side: string): string | undefined => {
        if (name === 'touch') return `touch ${join(side, 'src/00000')}`;
        if (name === 'edit') return `date +%N > ${join(side, 'src/00000')}`;
        if (name === 'cold')
          return `rm -rf ${join(side, 'out')} ${join(side, 'all.txt')} ${join(side, '_build')} ${join(side, '.doit.db')}*`;
        return undefined;
      };
      // In rounds, each running both once in turn: the machine is shared, and its load moves
      // over seconds; a ratio within a round compares the two under the same load.
      const { timed, rounds } = compareInterleaved(
        [
          { name: 'ours', command: oursCommand(workers), ...optional('prepare', prepare(ours)) },
          { name: 'doit', command: doitCommand(workers), ...optional('prepare', prepare(theirs)) },
        ],
        { rounds: name === 'cold' ? (small ? 5 : 2) : small ? 15 : 5, warmup: name === 'cold' ? 0 : 1, workDir: dir },
      );
      const ratio = round(median(rounds.map((r) => r.ours! / r.doit!)));
      return { ours: timed.ours!, doit: timed.doit!, ratio };
    };
    results[String(size)] = Object.fromEntries(
      SCENARIOS.map((name) => [name, scenario(name)]),
    ) as EngineResults[string];
  }
  return results;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Markdown rows for the README. */
export function engineTable(results: EngineResults): string {
  const rows = [
    '| tasks | scenario | ours, median (s) | doit, median (s) | ours / doit (median of rounds) |',
    '|---:|---|---:|---:|---:|',
  ];
  for (const [size, scenarios] of Object.entries(results)) {
    for (const name of SCENARIOS) {
      const s = scenarios[name];
      rows.push(
        `| ${size} | ${name} | ${s.ours.median.toFixed(3)} | ${s.doit.median.toFixed(3)} | ${s.ratio.toFixed(2)} |`,
      );
    }
  }
  return rows.join('\n');
}
