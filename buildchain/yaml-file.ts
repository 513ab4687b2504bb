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
    throw new BuildError(`${file}: ${code === 'ENOENT' ? `no such file${missingHint ? ` (${missingHint})` : ''}` : (error as Error).message}`);
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
