// A strict .env reader: KEY=VALUE lines, optional `export `, quotes, comments, and `$NAME` or
// `${NAME}` in unquoted and double-quoted values (not in single quotes; `\$` is a dollar sign).
// Unlike permissive loaders, a malformed line or an unknown name is an error naming the file and
// line, because a silently dropped setting sends a build to the wrong registry.
import { BuildError } from './errors.ts';

export interface EnvEntry {
  value: string;
  /** `FILE:LINE`, for messages about this value. */
  origin: string;
}

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/;

export type Lookup = (name: string) => string | undefined;

/**
 * Where `$NAME` finds its value: the environment first (it wins over the file, for references as
 * for settings), then the file's earlier lines, then the defaults. None: the reference is an error.
 */
export interface References {
  environment?: Lookup;
  defaults?: Lookup;
}

/** The file's entries; `$NAME` references are expanded when `references` says where to look. */
export function parseDotenv(text: string, file: string, references?: References): Map<string, EnvEntry> {
  const entries = new Map<string, EnvEntry>();
  const resolve: Lookup | undefined =
    references && ((name) => references.environment?.(name) ?? entries.get(name)?.value ?? references.defaults?.(name));
  text.split(/\r?\n/).forEach((raw, i) => {
    const origin = `${file}:${i + 1}`;
    if (/^\s*(#.*)?$/.test(raw)) return;
    const match = LINE.exec(raw);
    if (!match) throw new BuildError(`${origin}: malformed line, expected KEY=VALUE: ${raw.trim()}`);
    entries.set(match[1]!, { value: parseValue(match[2]!, origin, resolve), origin });
  });
  return entries;
}

function parseValue(rest: string, origin: string, resolve: Lookup | undefined): string {
  const quote = rest[0];
  if (quote === '"' || quote === "'") {
    const end = findClosingQuote(rest, quote);
    if (end < 0) throw new BuildError(`${origin}: unterminated ${quote} quote`);
    const trailing = rest.slice(end + 1).trim();
    if (trailing && !trailing.startsWith('#'))
      throw new BuildError(`${origin}: unexpected text after the closing quote: ${trailing}`);
    const body = rest.slice(1, end);
    return quote === "'" ? body : expand(body, origin, resolve, { n: '\n', t: '\t', '"': '"', '\\': '\\', $: '$' });
  }
  // Unquoted: a comment starts at " #"; inner spaces are kept.
  return expand(rest.replace(/\s+#.*$/, '').trim(), origin, resolve, { $: '$' });
}

/** Escapes (`\\x` for x in `escapes`) and, with `resolve`, `$NAME` / `${NAME}` references, left to right. */
function expand(
  text: string,
  origin: string,
  resolve: Lookup | undefined,
  escapes: Readonly<Record<string, string>>,
): string {
  return text.replace(
    /\\(.)|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\{/g,
    (match, escaped: string | undefined, braced: string | undefined, bare: string | undefined) => {
      if (escaped !== undefined) return escapes[escaped] ?? match;
      if (!resolve) return match;
      const name = braced ?? bare;
      if (name === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new BuildError(
          `${origin}: malformed reference ${match}: write $NAME or \${NAME} (\\$ for a dollar sign)`,
        );
      const value = resolve(name);
      if (value === undefined)
        throw new BuildError(
          `${origin}: ${match} names no earlier setting of this file, environment variable or known setting`,
        );
      return value;
    },
  );
}

function findClosingQuote(text: string, quote: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\' && quote === '"') i += 1;
    else if (text[i] === quote) return i;
  }
  return -1;
}
