// A strict .env reader: KEY=VALUE lines, optional `export `, quotes, comments.
// Unlike permissive loaders, a malformed line is an error naming the file and line,
// because a silently dropped setting sends a build to the wrong registry.
import { BuildError } from './errors.ts';

export interface EnvEntry {
  value: string;
  /** `FILE:LINE`, for messages about this value. */
  origin: string;
}

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/;

export function parseDotenv(text: string, file: string): Map<string, EnvEntry> {
  const entries = new Map<string, EnvEntry>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const origin = `${file}:${i + 1}`;
    if (/^\s*(#.*)?$/.test(raw)) return;
    const match = LINE.exec(raw);
    if (!match) throw new BuildError(`${origin}: malformed line, expected KEY=VALUE: ${raw.trim()}`);
    entries.set(match[1]!, { value: parseValue(match[2]!, origin), origin });
  });
  return entries;
}

function parseValue(rest: string, origin: string): string {
  const quote = rest[0];
  if (quote === '"' || quote === "'") {
    const end = findClosingQuote(rest, quote);
    if (end < 0) throw new BuildError(`${origin}: unterminated ${quote} quote`);
    const trailing = rest.slice(end + 1).trim();
    if (trailing && !trailing.startsWith('#')) throw new BuildError(`${origin}: unexpected text after the closing quote: ${trailing}`);
    const body = rest.slice(1, end);
    return quote === "'" ? body : body.replace(/\\([nt"\\$])/g, (_, c: string) => ({ n: '\n', t: '\t' })[c] ?? c);
  }
  // Unquoted: a comment starts at " #"; inner spaces are kept.
  return rest.replace(/\s+#.*$/, '').trim();
}

function findClosingQuote(text: string, quote: string): number {
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\' && quote === '"') i += 1;
    else if (text[i] === quote) return i;
  }
  return -1;
}
