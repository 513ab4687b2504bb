// YAML data files edited by people: a missing file or a parse error names the file.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { BuildError } from './errors.ts';

/** The text of a file people edit; `missingHint` names what chose it (IMAGES_FILE) when it is absent. */
export function readTextFile(file: string, missingHint = ''): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BuildError(
      `${file}: ${code === 'ENOENT' ? `no such file${missingHint ? ` (${missingHint})` : ''}` : (error as Error).message}`,
    );
  }
}

export function readYamlFile(file: string, missingHint = ''): unknown {
  const text = readTextFile(file, missingHint);
  try {
    return parseYaml(text);
  } catch (error) {
    throw new BuildError(`${file}: ${(error as Error).message}`);
  }
}

/** Refuses a second entry of a declarations file with the same name, naming both entries. */
export function uniqueNames(file: string): (name: string, where: string) => void {
  const seen = new Map<string, string>();
  return (name, where) => {
    const earlier = seen.get(name);
    if (earlier) throw new BuildError(`${file}: ${where}.name "${name}" is already declared at ${earlier}`);
    seen.set(name, where);
  };
}
