// `iso create`'s live line on a terminal: bytes written of the image's total, the percentage and
// the rate, as ./build.ts shows its tasks. It appears only once the write has lasted a second, so
// a small image shows nothing, and never when the stream is not a terminal: what scripts and
// tests read stays exactly the summary line.
import { formatBytes, openProgressLine, showsLiveLine } from '../progress-line.ts';

export interface WriteProgress {
  /** For writeIso's onProgress; undefined when nothing is shown. */
  onProgress: ((written: number, total: number) => void) | undefined;
  /** Clears the line, before the summary is printed. */
  done(): void;
}

/** Shown after this long, redrawn at most this often. */
const DELAY_MS = 1000;
const REDRAW_MS = 100;

export async function writeProgress(stream: NodeJS.WriteStream, output: string): Promise<WriteProgress> {
  if (!showsLiveLine(stream)) return { onProgress: undefined, done: () => undefined };
  const line = await openProgressLine(stream);
  // Counted from here: scanning and planning the tree is part of what the user waits for.
  const started = Date.now();
  let drawn = 0;
  let shown = false;
  return {
    onProgress(written, total) {
      const now = Date.now();
      if (now - started < DELAY_MS || (now - drawn < REDRAW_MS && written < total)) return;
      drawn = now;
      shown = true;
      const percent = total > 0 ? Math.floor((written / total) * 100) : 100;
      const rate = written / ((now - started) / 1000);
      line.render(`${output}: ${formatBytes(written)} / ${formatBytes(total)} (${percent}%), ${formatBytes(rate)}/s`);
    },
    done() {
      if (shown) line.done();
    },
  };
}
