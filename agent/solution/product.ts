// product.txt: `KEY=value` lines (a value may be double-quoted), as MetalK8s and Solution ISOs
// carry them at their root.

export function parseProduct(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const equal = line.indexOf('=');
    if (equal <= 0) continue;
    const value = line.slice(equal + 1).trim();
    values.set(line.slice(0, equal).trim(), /^".*"$/.test(value) ? value.slice(1, -1) : value);
  }
  return values;
}

/** Values that hold shell-special characters (a semver range's `>`) are double-quoted. */
export function formatProduct(values: ReadonlyArray<[string, string]>): string {
  return (
    values.map(([key, value]) => `${key}=${/[^A-Za-z0-9._:+\-/]/.test(value) ? `"${value}"` : value}`).join('\n') + '\n'
  );
}
