// npm run bench [-- NAME...]: runs the benchmarks (default: all), each against its anchor tool
// in the same run, merges the figures into bench/results.json and prints the README tables.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../buildchain/paths.ts';
import { benchEngine, engineTable } from './engine/bench.ts';
import { benchFarm, farmTable } from './farm/bench.ts';
import { benchFull, fullTable } from './full/bench.ts';
import { benchFullScale, scaleTable } from './full/scale.ts';
import { benchIso, isoTable } from './iso/bench.ts';
import { benchPull, pullTable } from './pull/bench.ts';
import { benchRegistry, registryTable } from './registry/bench.ts';
import { benchRpm, rpmTable } from './rpm/bench.ts';

type Bench = (root: string) => Promise<{ results: unknown; table: string }>;

/** A benchmark: its run (sync or async) and the README table of its results. */
function bench<R>(run: (root: string) => R | Promise<R>, table: (results: R) => string): Bench {
  return async (root) => {
    const results = await run(root);
    return { results, table: table(results) };
  };
}

const BENCHES: Record<string, Bench> = {
  engine: bench((root) => benchEngine(root, [2000, 20000]), engineTable),
  iso: bench(benchIso, isoTable),
  pull: bench(benchPull, pullTable),
  registry: bench(benchRegistry, registryTable),
  rpm: bench(benchRpm, rpmTable),
  full: bench(benchFull, fullTable),
  'full-scale': bench(benchFullScale, scaleTable),
  farm: bench(benchFarm, farmTable),
};

const root = projectRoot();
const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);
const unknown = names.filter((name) => !BENCHES[name]);
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})\n`);
  process.exit(2);
}

const resultsFile = join(root, 'bench', 'results.json');
let all: Record<string, unknown> = {};
try {
  all = JSON.parse(readFileSync(resultsFile, 'utf8')) as Record<string, unknown>;
} catch {
  // first run
}
async function main(): Promise<void> {
  for (const name of names) {
    const { results, table } = await BENCHES[name]!(root);
    all[name] = {
      measured: new Date().toISOString(),
      machine: {
        cpus: availableParallelism(),
        cpu: cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      results,
    };
    process.stdout.write(`\n## ${name}\n\n${table}\n`);
  }
  writeFileSync(resultsFile, `${JSON.stringify(all, null, 2)}\n`);
  process.stdout.write(`\nwritten: ${resultsFile}\n`);
}

void main();
