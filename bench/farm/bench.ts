// A build farm at MetalK8s 2.4's scale: runner B's cold build from a warm cache against runner A's
// cold build, on the demo's inputs of size `metalk8s` (as bench/full's full-scale). Each round
// (demo/farm.ts) is a fresh cache and two empty build roots: A builds from the demo's servers and
// fills the cache, the servers stop, B builds from the cache alone. Rounds run one after the other
// and each gives its own B / A, since this machine's speed drifts over minutes; the figure is
// their median. The two ISOs of every round must be the same bytes.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { farmRound, type Runner } from '../../demo/farm.ts';
import { prepareDemo } from '../../demo/inputs.ts';
import { round } from '../engine/bench.ts';
import { median } from '../hyperfine.ts';

/** The goal: B takes at most this share of A's time. */
export const GOAL = 0.3;
const ROUNDS = 3;
const SIZE = 'metalk8s';

export interface FarmResults {
  size: string;
  inputs: { images: number; pulledBytes: number; uniqueBytes: number; packages: number; isoBytes: number };
  rounds: { a: Runner; b: Runner; ratio: number }[];
  /** Medians over the rounds, seconds; `ratio` is the median of the rounds' own B / A. */
  a: number;
  b: number;
  ratio: number;
  goal: number;
  holds: boolean;
}

export async function benchFarm(root: string): Promise<FarmResults> {
  const work = join(root, 'bench', 'work', 'farm');
  const say = (line: string) => process.stderr.write(`bench/farm: ${line}\n`);
  const signal = new AbortController().signal;
  const rounds: FarmResults['rounds'] = [];
  let inputs: FarmResults['inputs'] | undefined;
  try {
    for (let i = 0; i < ROUNDS; i += 1) {
      // Started again each round (generated once): runner B of the last round stopped them.
      const demo = await prepareDemo(work, SIZE, say);
      const dir = join(work, 'round');
      try {
        const { a, b } = await farmRound(demo, dir, signal, (line) => say(`round ${i + 1}: ${line}`));
        rounds.push({ a: trimmed(a), b: trimmed(b), ratio: round(b.seconds / a.seconds) });
        inputs ??= {
          images: demo.inputs.images,
          pulledBytes: demo.inputs.pulledBytes,
          uniqueBytes: demo.inputs.uniqueBytes,
          packages: demo.inputs.packages,
          isoBytes: statSync(join(dir, 'b', 'metalk8s.iso')).size,
        };
      } finally {
        await demo.stop();
        rmSync(dir, { recursive: true, force: true }); // two build roots and a cache: about 5 GB
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true }); // 2 GB of generated inputs
  }
  const ratio = round(median(rounds.map((r) => r.ratio)));
  return {
    size: SIZE,
    inputs: inputs!,
    rounds,
    a: round(median(rounds.map((r) => r.a.seconds))),
    b: round(median(rounds.map((r) => r.b.seconds))),
    ratio,
    goal: GOAL,
    holds: ratio <= GOAL,
  };
}

const trimmed = (runner: Runner): Runner => ({ ...runner, seconds: round(runner.seconds) });

export function farmTable(r: FarmResults): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  const s = (seconds: number | undefined) => `${(seconds ?? 0).toFixed(2)} s`;
  // The profile: the phases of the round whose ratio is the median one.
  const middle = [...r.rounds].sort((x, y) => x.ratio - y.ratio)[r.rounds.length >> 1]!;
  const phases = Object.keys(middle.a.phases);
  return [
    `Inputs of \`npm run demo -- --size ${r.size}\`: ${r.inputs.images} images (${(r.inputs.pulledBytes / 2 ** 30).toFixed(2)} GiB ` +
      `as pulled, ${(r.inputs.uniqueBytes / 2 ** 30).toFixed(2)} GiB of unique bytes with the packages), ` +
      `${r.inputs.packages} packages; ISO of ${(r.inputs.isoBytes / 2 ** 30).toFixed(2)} GiB.`,
    '',
    '| round | A: cold, fills the cache | B: cold, from the cache | B / A | B from the cache (MiB) | B: results restored, tasks run |',
    '|---:|---:|---:|---:|---:|---:|',
    ...r.rounds.map(
      (x, i) =>
        `| ${i + 1} | ${s(x.a.seconds)} | ${s(x.b.seconds)} | ${x.ratio.toFixed(2)} | ${mib(x.b.cacheBytes)} | ${x.b.fromCache}, ${x.b.ran} |`,
    ),
    `| median | ${s(r.a)} | ${s(r.b)} | ${r.ratio.toFixed(2)} | | |`,
    '',
    `Goal B <= ${r.goal}x A: ${r.holds ? 'holds' : 'not met'} (${r.ratio.toFixed(2)}x, median of the rounds' ratios).`,
    '',
    `Phases of round ${r.rounds.indexOf(middle) + 1} (spans from \`--reporter json\`, restores from the cache included):`,
    '',
    `| runner | ${phases.join(' | ')} |`,
    `|---|${phases.map(() => '---:').join('|')}|`,
    `| A | ${phases.map((p) => s(middle.a.phases[p])).join(' | ')} |`,
    `| B | ${phases.map((p) => s(middle.b.phases[p])).join(' | ')} |`,
  ].join('\n');
}
