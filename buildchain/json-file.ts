// JSON files the build keeps (locks, records): unreadable files and text that is not JSON are
// errors naming the file. Their shape is checked by each reader.
import { readFileSync } from 'node:fs';
import { BuildError } from './errors.ts';

/** A file's text; an unreadable file is an error naming it. */
export function readTextFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new BuildError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** JSON, unchecked; text that is not JSON is an error naming `file` and calling it `what`. */
export function parseJsonText<T>(text: string, file: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new BuildError(`${file}: not ${what} (${(error as Error).message})`);
  }
}
