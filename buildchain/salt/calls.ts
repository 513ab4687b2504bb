// What Salt names the node-side scripts invoke (states, orchestrates, execution and runner
// functions, state functions), read from their salt-call and salt-run command lines, and whether a
// Salt tree provides each: the check that an ISO's scripts only call what the ISO ships.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export type SaltCallKind = 'state' | 'module' | 'runner' | 'state-function';

export interface SaltCall {
  kind: SaltCallKind;
  /** `metalk8s.roles.bootstrap`, `saltutil.sync_all`; `$1` and `${X}` stand for one name part. */
  name: string;
  /** Where it is invoked: a file and line. */
  where: string;
}

/** Salt's own functions the scripts use (Salt 2018.3): always there, whatever the tree. */
const BUILTIN: Readonly<Record<Exclude<SaltCallKind, 'state'>, ReadonlySet<string>>> = {
  module: new Set([
    'state',
    'saltutil',
    'slsutil',
    'grains',
    'pillar',
    'test',
    'cmd',
    'cp',
    'file',
    'sys',
    'config',
    'mine',
    'event',
  ]),
  runner: new Set(['state', 'saltutil', 'jobs', 'manage', 'mine', 'salt', 'cache']),
  'state-function': new Set(['file', 'cmd', 'pkg', 'service', 'test', 'module', 'saltutil']),
};

const STATE_RUNNERS = new Set(['state.sls', 'state.apply', 'state.orchestrate', 'state.orch', 'state.sls_id']);
const FUNCTION = /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/;

/** Shell words of a line: quotes removed, variables left as written. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  let started = false;
  for (const char of line) {
    if (quote) {
      if (char === quote) quote = undefined;
      else word += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      started = true;
    } else if (/\s/.test(char)) {
      if (started || word) words.push(word);
      word = '';
      started = false;
    } else if (char === '#' && !word && !started) {
      break; // a comment
    } else {
      word += char;
    }
  }
  if (started || word) words.push(word);
  return words;
}

/** The Salt calls of a shell script: each salt-call / salt-run / salt-ssh line's function and states. */
export function shellSaltCalls(text: string, file: string): SaltCall[] {
  const calls: SaltCall[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const first = index + 1;
    let line = lines[index]!;
    while (line.endsWith('\\') && index + 1 < lines.length) line = line.slice(0, -1) + lines[++index];
    const words = shellWords(line);
    // salt-ssh runs execution functions on the minions it targets, as salt-call does on this one.
    const command = words.findIndex((word) => /(^|[/$"{])(salt-call|salt-run|salt-ssh|SALT_CALL)\}?$/.test(word));
    if (command < 0) continue;
    const runner = words[command]!.endsWith('salt-run');
    const rest = words.slice(command + 1).filter((word) => !word.startsWith('-') && !/^[A-Za-z_]+=/.test(word));
    const fn = rest.findIndex((word) => FUNCTION.test(word));
    if (fn < 0) continue;
    const name = rest[fn]!;
    const where = `${file}:${first}`;
    calls.push({ kind: runner ? 'runner' : 'module', name, where });
    const argument = rest[fn + 1];
    if (argument === undefined) continue;
    if (STATE_RUNNERS.has(name) || (runner && name === 'state.sls')) {
      for (const state of stateList(argument)) calls.push({ kind: 'state', name: state, where });
    } else if (name === 'state.orchestrate_single' || name === 'state.single') {
      calls.push({ kind: 'state-function', name: argument, where });
    }
  }
  return calls;
}

/** `a.b`, `a.b,c.d` or a JSON list of names. */
function stateList(argument: string): string[] {
  if (argument.startsWith('[')) {
    try {
      return (JSON.parse(argument) as unknown[]).map(String);
    } catch {
      return [argument];
    }
  }
  return argument.split(',').filter(Boolean);
}

/** A name part that is a shell variable matches any one file or folder name. */
function namePattern(part: string): RegExp {
  return new RegExp(
    `^${part
      .split(/(\$\{?[A-Za-z0-9_]+\}?)/)
      .map((piece) => (piece.startsWith('$') ? '[^/]+' : piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
  );
}

/** The paths below `root` matching `parts` (folders, then a last part matched by `last`). */
function matching(root: string, parts: string[], last: (entry: string) => string | undefined): string[] {
  let dirs = [root];
  for (const part of parts) {
    const pattern = namePattern(part);
    dirs = dirs.flatMap((dir) =>
      (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : [])
        .filter((entry) => entry.isDirectory() && pattern.test(entry.name))
        .map((entry) => join(dir, entry.name)),
    );
  }
  return dirs.flatMap((dir) =>
    (existsSync(dir) ? readdirSync(dir) : []).flatMap((entry) => last(entry) ?? []).map((entry) => join(dir, entry)),
  );
}

/** Whether the Salt file root provides the state `name` (a.b.c: a/b/c.sls or a/b/c/init.sls). */
function hasState(root: string, name: string): boolean {
  const parts = name.split('.');
  const leaf = namePattern(parts.at(-1)!);
  const plain = (entry: string) => entry.replace(/\.in$/, ''); // a template deploys without .in
  const asFile = matching(root, parts.slice(0, -1), (entry) =>
    plain(entry).endsWith('.sls') && leaf.test(plain(entry).slice(0, -4)) ? entry : undefined,
  );
  const asFolder = matching(root, parts, (entry) => (plain(entry) === 'init.sls' ? entry : undefined));
  return asFile.length + asFolder.length > 0;
}

/** Whether `_<folder>/` has a module named `module` (by file name or __virtualname__) defining `fn`. */
function hasFunction(root: string, folder: string, module: string, fn: string): boolean {
  const dir = join(root, `_${folder}`);
  if (!existsSync(dir)) return false;
  return readdirSync(dir)
    .filter((file) => file.endsWith('.py'))
    .some((file) => {
      const text = readFileSync(join(dir, file), 'utf8');
      const virtual = /^__virtualname__\s*=\s*['"]([^'"]+)['"]/m.exec(text)?.[1];
      const named = file.slice(0, -3) === module || virtual === module;
      return named && new RegExp(`^def ${fn}\\(`, 'm').test(text);
    });
}

/** The calls the Salt file root `root` (the ISO's salt/) does not provide. */
export function missingSaltCalls(root: string, calls: readonly SaltCall[]): SaltCall[] {
  return calls.filter((call) => {
    if (call.kind === 'state') return !hasState(root, call.name);
    const [module, fn] = call.name.split('.') as [string, string];
    if (BUILTIN[call.kind].has(module)) return false;
    const folder = { module: 'modules', runner: 'runners', 'state-function': 'states' }[call.kind];
    return !hasFunction(root, folder, module, fn);
  });
}

export function describeSaltCall(call: SaltCall): string {
  const what = {
    state: 'state',
    module: 'execution function',
    runner: 'runner function',
    'state-function': 'state function',
  }[call.kind];
  return `${call.where}: ${what} ${call.name}`;
}
