// `@@NAME` templates, upstream's delimiter for files ending in `.in` (top.sls.in, bootstrap.sh.in).
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.ts';
import { BuildError } from '../errors.ts';

const PLACEHOLDER = /@@([A-Za-z_][A-Za-z0-9_]*)/g;

/** The values of `context` that `text` uses: what a rendering depends on, no more. */
export function usedValues(text: string, context: Readonly<Record<string, string>>): Record<string, string> {
  const names = new Set([...text.matchAll(PLACEHOLDER)].map((match) => match[1]!));
  return Object.fromEntries(Object.entries(context).filter(([name]) => names.has(name)));
}

/** Replaces every @@NAME; an unknown name is an error naming the file and line. */
export function renderTemplate(text: string, context: Readonly<Record<string, string>>, file: string): string {
  return text.replace(PLACEHOLDER, (match, name: string, offset: number) => {
    const value = context[name];
    if (value === undefined) {
      const line = text.slice(0, offset).split('\n').length;
      throw new BuildError(
        `${file}:${line}: unknown template variable ${match} (known: ${Object.keys(context)
          .map((k) => `@@${k}`)
          .join(', ')})`,
      );
    }
    return value;
  });
}

/** Renders `source` into `target` atomically, keeping the source's permission bits. */
export async function renderTemplateFile(
  source: string,
  target: string,
  context: Readonly<Record<string, string>>,
): Promise<void> {
  const [text, stats] = await Promise.all([readFile(source, 'utf8'), stat(source)]);
  await writeFileAtomic(target, renderTemplate(text, context, source), stats.mode & 0o7777);
}
