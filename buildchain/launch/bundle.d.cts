export function bundlePathFor(root: string, entry: string): string;
export function ensureBundle(root: string, entry: string): Promise<string>;
