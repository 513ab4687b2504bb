// One line redrawn in place on a terminal, for work that takes a while (./build.ts's tasks,
// `iso create`'s write): log-update, loaded only when the stream is a terminal that can show it.
// Scripts, pipes and files never see it nor any escape code.

export interface ProgressLine {
  render(text: string): void;
  clear(): void;
  done(): void;
}

/**
 * Whether `stream` can show a live line: a terminal with a size. A pseudo-terminal nobody sized
 * (0 columns) could not: log-update prints nothing there.
 */
export function showsLiveLine(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && (stream.columns ?? 0) > 0;
}

export async function openProgressLine(stream: NodeJS.WriteStream): Promise<ProgressLine> {
  const { createLogUpdate } = await import('log-update');
  const update = createLogUpdate(stream, { showCursor: true });
  return { render: (text) => update(text), clear: () => update.clear(), done: () => update.clear() };
}

/** 1023 B, 1.5 KiB, 2.0 GiB: a size for a person reading a progress line. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
