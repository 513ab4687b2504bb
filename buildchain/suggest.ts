// The closest known names to a mistyped one: task names on the command line, keys of a
// declarations file, settings of .env. One ranking, so every "did you mean" agrees.

/**
 * Up to three names close to `wanted`, closest first: those containing it (or contained in it),
 * then those within an edit distance of a third of its length (at least 2). Containment counts
 * from three characters: `to` is in `repository`, yet says nothing of it.
 */
export function closestNames(wanted: string, names: readonly string[]): string[] {
  const limit = Math.max(2, Math.floor(wanted.length / 3));
  const contains = (long: string, short: string) => short.length >= 3 && long.includes(short);
  return names
    .map((name) => ({
      name,
      score: contains(name, wanted) || contains(wanted, name) ? 0.5 : editDistance(wanted, name),
    }))
    .filter((entry) => entry.score <= limit)
    .sort((a, b) => a.score - b.score || a.name.localeCompare(b.name))
    .slice(0, 3)
    .map((entry) => entry.name);
}

/** " (did you mean 'a', 'b'?)" for the names closest to a mistyped one, or "". */
export function suggestion(wanted: string, names: readonly string[], quote = "'"): string {
  const closest = closestNames(wanted, names);
  return closest.length ? ` (did you mean ${closest.map((name) => `${quote}${name}${quote}`).join(', ')}?)` : '';
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}
