import { describe, expect, it } from 'vitest';
import { absoluteFigure, curlConfig, floorOf, ratioFigure } from './floor.ts';

describe('floorOf', () => {
  it('adds parts done one after the other and takes the slower of parts side by side', () => {
    expect(floorOf({ curl: 1.5, sha256: 0.5 }, 'sum')).toBe(2);
    expect(floorOf({ curl: 1.5, sha256: 0.5 }, 'max')).toBe(1.5);
  });

  it('refuses a floor without parts, or with a part that is not a positive time', () => {
    expect(() => floorOf({}, 'sum')).toThrow('at least one part');
    expect(() => floorOf({ curl: 0 }, 'max')).toThrow('positive seconds');
    expect(() => floorOf({ curl: Number.NaN }, 'sum')).toThrow('positive seconds');
  });
});

describe('ratioFigure', () => {
  it("takes the median of the rounds' own ratios, not the ratio of the medians", () => {
    const figure = ratioFigure(
      [
        { ours: 10, parts: { a: 2, b: 3 } }, // 2.0
        { ours: 3, parts: { a: 1, b: 1 } }, // 1.5
        { ours: 20, parts: { a: 1, b: 3 } }, // 5.0
      ],
      'sum',
      1.5,
    );
    expect(figure.rounds.map((r) => r.ratio)).toEqual([2, 1.5, 5]);
    expect(figure.ratio).toBe(2);
    // The medians of ours and of the floor, each on its own: 10 / 4 would say 2.5.
    expect(figure.ours).toBe(10);
    expect(figure.floor).toBe(4);
    expect(figure.holds).toBe(false);
    expect(figure.goal).toBe(1.5);
  });

  it('holds when the median ratio is at most the goal, and keeps each round and its parts', () => {
    const figure = ratioFigure(
      [
        { ours: 1.2, parts: { curl: 1, sha256: 0.4 } },
        { ours: 3, parts: { curl: 1, sha256: 1 } },
      ],
      'max',
      1.5,
    );
    expect(figure.rounds[0]).toEqual({ ours: 1.2, parts: { curl: 1, sha256: 0.4 }, floor: 1, ratio: 1.2 });
    expect(figure.ratio).toBe(2.1); // median of 1.2 and 3
    expect(figure.holds).toBe(false);
    expect(ratioFigure([{ ours: 1.2, parts: { x: 1 } }], 'max', 1.5).holds).toBe(true);
  });

  it('needs a round', () => {
    expect(() => ratioFigure([], 'sum', 1)).toThrow('at least one round');
  });
});

describe('absoluteFigure', () => {
  it('sets the median of the rounds against a goal in seconds', () => {
    expect(absoluteFigure([0.2, 0.1, 0.14], 0.15)).toEqual({
      rounds: [0.2, 0.1, 0.14],
      seconds: 0.14,
      goal: 0.15,
      holds: true,
    });
    expect(absoluteFigure([0.2, 0.16], 0.15).holds).toBe(false);
  });
});

describe('curlConfig', () => {
  const blob = 'http://127.0.0.1:5000/v2/demo/x/blobs/sha256:ab12';
  const rpm = 'http://127.0.0.1:8080/repo/demo-lib1-1.0-1.noarch.rpm';

  it('sends every URL to /dev/null without a folder', () => {
    expect(curlConfig([blob, rpm])).toBe(
      `url = "${blob}"\noutput = "/dev/null"\nurl = "${rpm}"\noutput = "/dev/null"\n`,
    );
  });

  it("writes each URL into the folder under its last segment, a digest's hex alone", () => {
    expect(curlConfig([blob, rpm], '/tmp/f')).toBe(
      `url = "${blob}"\noutput = "/tmp/f/ab12"\nurl = "${rpm}"\noutput = "/tmp/f/demo-lib1-1.0-1.noarch.rpm"\n`,
    );
  });

  it('refuses two URLs that would write one file, and a URL without a name', () => {
    expect(() => curlConfig([blob, 'http://127.0.0.1:5000/v2/demo/y/blobs/sha256:ab12'], '/tmp/f')).toThrow(
      'a second URL named ab12',
    );
    expect(() => curlConfig(['http://127.0.0.1:8080/repo/'], '/tmp/f')).toThrow('no file name');
  });
});
