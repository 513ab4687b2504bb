// The state's snapshot and journal: a run that changes a few records appends them, the snapshot
// is rewritten only once the journal is worth folding, and a torn line never hides later ones.
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { StateStore } from './state.ts';

function store(): { dir: string; open: () => StateStore } {
  const dir = join(tempDir(), '.engine');
  return { dir, open: () => new StateStore(dir) };
}

describe('engine state', () => {
  it('keeps a small journal beside the snapshot, and reads both back', () => {
    const { dir, open } = store();
    const first = open();
    first.setTask('a', ['sig', 'deps', ['d1']]);
    first.save({ fold: true });
    const snapshot = statSync(StateStore.snapshotPath(dir));
    expect(existsSync(StateStore.journalPath(dir))).toBe(false);

    const second = open();
    second.setFile('src/x', [1, 2, 3, 'digest']);
    second.setTask('b', ['sig', 'deps', ['d2']]);
    second.save();
    const after = statSync(StateStore.snapshotPath(dir));
    expect([after.ino, after.mtimeMs]).toEqual([snapshot.ino, snapshot.mtimeMs]); // not rewritten
    expect(readFileSync(StateStore.journalPath(dir), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);

    const third = open();
    expect([third.task('a'), third.task('b'), third.file('src/x')]).toEqual([
      ['sig', 'deps', ['d1']],
      ['sig', 'deps', ['d2']],
      [1, 2, 3, 'digest'],
    ]);
  });

  it('folds the journal into the snapshot once it has grown', () => {
    const { dir, open } = store();
    const state = open();
    const digests = Array.from({ length: 5000 }, (_, i) => `digest-${i}`);
    state.setTask('big', ['sig', 'deps', digests]); // one line of ~60 KB
    state.setTask('big2', ['sig', 'deps', digests]);
    state.save();
    expect(existsSync(StateStore.journalPath(dir))).toBe(false);
    expect(open().task('big2')?.[2]).toEqual(digests);
  });

  it('folds a journal that ends with a torn line before appending to it', () => {
    const { dir, open } = store();
    const state = open();
    state.setTask('a', ['sig', 'deps', []]);
    state.save();
    appendFileSync(StateStore.journalPath(dir), '{"task":["b",'); // a crash mid-write
    const next = open();
    next.setTask('c', ['sig', 'deps', []]);
    next.save();
    const last = open();
    expect([last.task('a'), last.task('b'), last.task('c')]).toEqual([
      ['sig', 'deps', []],
      undefined,
      ['sig', 'deps', []],
    ]);
    expect(existsSync(StateStore.journalPath(dir))).toBe(false);
  });
});
