// npm run bench [-- NAME...]: runs the benchmarks (default: all), each against its anchor tool
// in the same run, merges the figures into bench/results.json and prints the README tables.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../buildchain/paths.ts';
import { benchEngine, engineTable } from './engine/bench.ts';
import { benchFull, fullTable } from './full/bench.ts';
import { benchIso, isoTable } from './iso/bench.ts';
import { benchPull, pullTable } from './pull/bench.ts';
import { benchRegistry, registryTable } from './registry/bench.ts';
import { benchRpm, rpmTable } from './rpm/bench.ts';

const BENCHES: Record<string, (root: string) => { results: unknown; table: string } | Promise<{ results: unknown; table: string }>> = {
  engine: (root) => {
    const results = benchEngine(root, [2000, 20000]);
    return { results, table: engineTable(results) };
  },
  iso: (root) => {
    const results = benchIso(root);
    return { results, table: isoTable(results) };
  },
  pull: async (root) => {
    const results = await benchPull(root);
    return { results, table: pullTable(results) };
  },
  registry: async (root) => {
    const results = await benchRegistry(root);
    return { results, table: registryTable(results) };
  },
  rpm: async (root) => {
    const results = await benchRpm(root);
    return { results, table: rpmTable(results) };
  },
  full: async (root) => {
    const results = await benchFull(root);
    return { results, table: fullTable(results) };
  },
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
      machine: { cpus: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      results,
    };
    process.stdout.write(`\n## ${name}\n\n${table}\n`);
  }
  writeFileSync(resultsFile, `${JSON.stringify(all, null, 2)}\n`);
  process.stdout.write(`\nwritten: ${resultsFile}\n`);
}

void main();
