// Streaming SHA-256 of files: memory stays flat whatever the file size.
// node:crypto is loaded on first use: it costs ~10 ms at every start of a no-op build otherwise.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as builtins from '../builtins.ts';

const createHash = (algorithm: string) => builtins.crypto().createHash(algorithm);

/** Below this size one read is cheaper than a stream. */
const SMALL_FILE = 1 << 20;

export async function sha256File(path: string, knownSize?: number): Promise<string> {
  const hash = createHash('sha256');
  if (knownSize !== undefined && knownSize < SMALL_FILE) {
    hash.update(await readFile(path));
    return hash.digest('hex');
  }
  for await (const chunk of createReadStream(path, { highWaterMark: SMALL_FILE })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
