// Runs sphinx-build and latexmk with their output streamed line by line to the build log, and
// turns their failure into one error naming the document they name: Sphinx's `file:line: ERROR`
// (which Sphinx itself lets pass with exit 0), the file of a conf.py or extension traceback, or
// LaTeX's `! ...` line in its .tex file.
import { relative } from 'node:path';
import { createInterface } from 'node:readline';
import { BuildError } from '../errors.ts';
import * as builtins from '../builtins.ts';

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: (line: string) => void;
  /** sphinx-build: paths in its errors are shown relative to it; latexmk: what the .tex was made from. */
  shownFrom: string;
}

/** Sphinx's and docutils' messages that mean a broken document: `path:line: ERROR: ...`. */
const DOCUMENT_ERROR = /^(\/[^:]+?)(?::(\d+))?: (ERROR|SEVERE|CRITICAL): (.*)$/;

/** Runs `file args`, every line of its output logged and shown to `watch` as it comes; answers the last lines. */
function runStreamed(
  file: string,
  args: readonly string[],
  options: RunOptions,
  watch: (line: string) => void = () => {},
): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = builtins.childProcess().spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: options.signal,
    });
    // Kept for the error only, bounded: the last lines say what went wrong.
    const lines: string[] = [];
    const keep = (line: string) => {
      options.log(line);
      watch(line);
      lines.push(line);
      if (lines.length > 2000) lines.splice(0, lines.length - 2000);
    };
    const streams = [child.stdout, child.stderr].map(
      (stream) => new Promise<void>((done) => createInterface({ input: stream }).on('line', keep).on('close', done)),
    );
    child.on('error', (error) => reject(new BuildError(`${file}: ${error.message}`)));
    child.on('close', (code) => void Promise.all(streams).then(() => resolve({ code, lines })));
  });
}

/** sphinx-build `args`: fails on a non-zero exit or on a document error, naming the document. */
export async function runSphinx(sphinxBuild: string, args: readonly string[], options: RunOptions): Promise<void> {
  // The first document error, wherever it comes in a long output.
  const errors: RegExpExecArray[] = [];
  // Uncoloured whatever the environment asks (FORCE_COLOR, a terminal): the lines are parsed.
  const { code, lines } = await runStreamed(sphinxBuild, ['--no-color', ...args], options, (line) => {
    const error = errors.length === 0 && DOCUMENT_ERROR.exec(line);
    if (error) errors.push(error);
  });
  const shown = (path: string) => relative(options.shownFrom, path);
  const [error] = errors;
  if (error) {
    const [, path, at, level, message] = error;
    throw new BuildError(`Sphinx ${level}: ${shown(path!)}${at ? `:${at}` : ''}: ${message}`);
  }
  if (code === 0) return;
  // A conf.py or extension failure: Sphinx's own paragraph, and the last file of ours it names.
  const start = lines.findLastIndex((line) => /error|exception occurred/i.test(line));
  const said = lines
    .slice(Math.max(start, 0), Math.max(start, 0) + 6)
    .filter(Boolean)
    .join('\n');
  const files = lines.flatMap((line) => [...line.matchAll(/(\/[^\s"',:]+\.(?:py|rst|txt|md))(?:", line |:)(\d+)/g)]);
  const named = files.filter((m) => !relative(options.shownFrom, m[1]!).startsWith('..')).at(-1);
  throw new BuildError(
    `sphinx-build failed (exit ${code})${named ? ` in ${shown(named[1]!)}:${named[2]}` : ''}:\n${said || lines.slice(-10).join('\n')}`,
  );
}

/**
 * latexmk on `texFile` in `cwd`: fails naming the .tex file (by its name: the directory is a
 * staging one, gone with the failure) and LaTeX's first `!` message with the line it stopped at.
 */
export async function runLatexmk(latexmk: string, texFile: string, options: RunOptions): Promise<void> {
  const args = ['-pdf', '-dvi-', '-ps-', '-interaction=nonstopmode', '-halt-on-error', texFile];
  const { code, lines } = await runStreamed(latexmk, args, options);
  if (code === 0) return;
  const bang = lines.findIndex((line) => line.startsWith('! '));
  const said = bang >= 0 ? lines.slice(bang, bang + 3).join('\n') : lines.slice(-10).join('\n');
  throw new BuildError(
    `latexmk failed (exit ${code}) on ${texFile}, written by Sphinx from ${options.shownFrom}:\n${said}`,
  );
}
