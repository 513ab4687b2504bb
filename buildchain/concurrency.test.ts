import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { limitConcurrency } from './concurrency.ts';

it('runs at most `limit` calls at once, in order, and passes results and errors through', async () => {
  const limit = limitConcurrency(3);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const results = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) =>
      limit(async () => {
        started.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await sleep(5);
        running -= 1;
        if (i === 4) throw new Error('four');
        return i * 2;
      }),
    ),
  );
  expect(peak).toBe(3);
  expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(results[4]).toMatchObject({ status: 'rejected', reason: new Error('four') });
  expect(results[9]).toEqual({ status: 'fulfilled', value: 18 });
});
