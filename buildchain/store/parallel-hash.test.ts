import { createHash, randomFillSync } from 'node:crypto';
import { expect, it } from 'vitest';
import { ParallelSha256 } from './parallel-hash.ts';

it('hashes buffers in a worker, in the order given, as one SHA-256 stream', async () => {
  const buffers = [0, 1, 2].map(() => ParallelSha256.sharedBuffer(1 << 16));
  const hasher = new ParallelSha256(buffers);
  const reference = createHash('sha256');
  for (let round = 0; round < 30; round++) {
    const index = round % buffers.length;
    const length = 1000 + round * 1500;
    randomFillSync(buffers[index]!, 0, length);
    reference.update(buffers[index]!.subarray(0, length));
    await hasher.update(index, length); // the buffer may be refilled once this resolves
  }
  expect(await hasher.digest()).toBe(reference.digest('hex'));
});
