// The figures of bench/full's full-scale run: each one ours against its floor in every round, the
// floor being made of parts measured in the same round (a sum of parts done one after the other,
// or the slower of parts that could run side by side), and the figure the median of the rounds'
// own ratios, since this machine's speed drifts over minutes. Pure: no timing here.
import { median } from '../hyperfine.ts';

/** How a floor's parts make the floor: one after the other (`sum`), or side by side (`max`). */
export type Combine = 'sum' | 'max';

export interface FloorRound {
  /** Our time, seconds. */
  ours: number;
  /** The floor's parts, seconds, by name. */
  parts: Record<string, number>;
  floor: number;
  ratio: number;
}

export interface RatioFigure {
  combine: Combine;
  rounds: FloorRound[];
  /** Medians over the rounds, seconds. */
  ours: number;
  floor: number;
  /** The median of the rounds' own ours / floor. */
  ratio: number;
  /** The goal: ours / floor at most this. */
  goal: number;
  holds: boolean;
}

export interface AbsoluteFigure {
  /** Per round, seconds. */
  rounds: number[];
  /** Their median. */
  seconds: number;
  /** The goal: at most this many seconds. */
  goal: number;
  holds: boolean;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** The floor of one round from its parts. */
export function floorOf(parts: Record<string, number>, combine: Combine): number {
  const values = Object.values(parts);
  if (values.length === 0) throw new Error('a floor needs at least one part');
  if (values.some((value) => !(value > 0) || !Number.isFinite(value)))
    throw new Error(`a floor's parts are positive seconds, not ${JSON.stringify(parts)}`);
  return combine === 'sum' ? values.reduce((a, b) => a + b, 0) : Math.max(...values);
}

/** A figure over rounds: each round's ours / floor, their median set against the goal. */
export function ratioFigure(
  rounds: readonly { ours: number; parts: Record<string, number> }[],
  combine: Combine,
  goal: number,
): RatioFigure {
  if (rounds.length === 0) throw new Error('a figure needs at least one round');
  const measured = rounds.map(({ ours, parts }): FloorRound => {
    const floor = floorOf(parts, combine);
    return {
      ours: round3(ours),
      parts: Object.fromEntries(Object.entries(parts).map(([name, value]) => [name, round3(value)])),
      floor: round3(floor),
      ratio: round3(ours / floor),
    };
  });
  const ratio = round3(median(rounds.map(({ ours, parts }) => ours / floorOf(parts, combine))));
  return {
    combine,
    rounds: measured,
    ours: round3(median(rounds.map((r) => r.ours))),
    floor: round3(median(rounds.map((r) => floorOf(r.parts, combine)))),
    ratio,
    goal,
    holds: ratio <= goal,
  };
}

/** A figure in seconds over rounds (the no-op): their median set against the goal. */
export function absoluteFigure(rounds: readonly number[], goal: number): AbsoluteFigure {
  if (rounds.length === 0) throw new Error('a figure needs at least one round');
  const seconds = round3(median(rounds));
  return { rounds: rounds.map(round3), seconds, goal, holds: seconds <= goal };
}

/**
 * A curl config (`curl -K`) fetching each URL once: into `dir`, under the URL's last segment
 * (a blob's hex digest, a package's file name) where `dir` is given, else to /dev/null. Two URLs
 * of one name would overwrite each other's file: an error.
 */
export function curlConfig(urls: readonly string[], dir?: string): string {
  const names = new Set<string>();
  return urls
    .map((url) => {
      let output = '/dev/null';
      if (dir !== undefined) {
        const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '').replace(/^sha256:/, '');
        if (!name || name === '.' || name === '..') throw new Error(`${url}: no file name to write it under`);
        if (names.has(name)) throw new Error(`${url}: a second URL named ${name}`);
        names.add(name);
        output = `${dir}/${name}`;
      }
      return `url = ${JSON.stringify(url)}\noutput = ${JSON.stringify(output)}\n`;
    })
    .join('');
}
