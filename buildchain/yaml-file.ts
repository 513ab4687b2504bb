// YAML data files edited by people: parse errors and shape errors name the file.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { BuildError } from './errors.ts';

export function readYamlFile(file: string, missingHint = ''): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BuildError(
      `${file}: ${code === 'ENOENT' ? `no such file${missingHint ? ` (${missingHint})` : ''}` : (error as Error).message}`,
    );
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new BuildError(`${file}: ${(error as Error).message}`);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Readers for the entries of a declarations file, each error naming the file, the entry and the
 * field: `where` is the entry's path (`remote[3] (nginx)`).
 */
export function declarationReader(file: string, doc: Record<string, unknown>) {
  const seen = new Map<string, string>();
  return {
    /** A non-empty string; a number (YAML's reading of 1.10) is refused with the fix. */
    string(entry: Record<string, unknown>, key: string, where: string): string {
      const value = entry[key];
      if (typeof value === 'number')
        throw new BuildError(
          `${file}: ${where}.${key} is the number ${value}; quote it ("${value}") so that YAML keeps it as written`,
        );
      if (typeof value !== 'string' || value === '')
        throw new BuildError(`${file}: ${where}.${key} is missing (a non-empty string)`);
      return value;
    },
    optionalString(entry: Record<string, unknown>, key: string, where: string): string | undefined {
      return entry[key] === undefined ? undefined : this.string(entry, key, where);
    },
    /** A top-level list of mappings (absent: empty). */
    list(key: string, parent: Record<string, unknown> = doc, prefix = ''): Record<string, unknown>[] {
      const value = parent[key] ?? [];
      if (!Array.isArray(value)) throw new BuildError(`${file}: "${prefix}${key}" must be a list`);
      return value.map((entry: unknown, index) => {
        if (!isRecord(entry)) throw new BuildError(`${file}: ${prefix}${key}[${index}] must be a mapping`);
        return entry;
      });
    },
    /** Refuses a second entry with the same name. */
    unique(name: string, where: string): void {
      const earlier = seen.get(name);
      if (earlier) throw new BuildError(`${file}: ${where}.name "${name}" is already declared at ${earlier}`);
      seen.set(name, where);
    },
  };
}
