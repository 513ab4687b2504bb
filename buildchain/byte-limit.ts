// A bound on the bytes that go through a stream: past it the stream fails with the caller's
// error. How a body that never ends, or a decompression bomb, is refused while it streams,
// before it fills memory or the disk, whatever reads it next (a parser, a file).
import { Transform } from 'node:stream';

export function byteLimit(limit: number, tooLarge: () => Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit) done(tooLarge());
      else done(null, chunk);
    },
  });
}
