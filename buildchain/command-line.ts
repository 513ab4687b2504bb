// Sub-command dispatch shared by ./toolkit.ts and the node-side agent: one or two words name a
// command (`version`, `iso create`), `--help` prints its line, and errors map to the documented
// exit codes: 0 success, 1 failure (one line naming the file, field or URL), 2 bad usage.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BuildError, UsageError, errorMessage } from './errors.ts';

export interface Command {
  /** What follows the command's name on its line: `DIR -o FILE [--volid ID]`. */
  synopsis: string;
  /** What it does; more lines after a newline. */
  summary: string;
  /** Its group in the usage: the first word of a two-word name unless given (`release` for verify). */
  group?: string;
  run(args: string[]): Promise<number> | number;
}

export interface Program {
  /** How the user calls it, for usage lines (`./toolkit.ts`). */
  invocation: string;
  /** Prefix of error lines (`toolkit`). */
  name: string;
  /** Said after the usage line (how else it is installed). */
  aside?: string;
  commands: Record<string, Command>;
  /** Groups in the order the usage lists them; others follow in order of appearance. */
  groups?: readonly string[];
}

/** Positionals of a command, or a usage error saying which are expected. */
export function positionals(args: string[], options: NonNullable<ParseArgsConfig['options']>, names: string[]) {
  const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  if (parsed.positionals.length !== names.length)
    throw new UsageError(`expected ${names.join(' ')}, got ${parsed.positionals.length} argument(s)`);
  return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, args: parsed.positionals };
}

/** Aborted on Ctrl-C, so downloads and uploads stop (keeping their partial bytes for the next attempt). */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return controller.signal;
}

const groupOf = (name: string, command: Command) =>
  command.group ?? (name.includes(' ') ? name.split(' ')[0]! : undefined);

/** Commands grouped (ungrouped ones last), in the program's group order. */
function grouped(program: Program): [string | undefined, [string, Command][]][] {
  const groups = new Map<string | undefined, [string, Command][]>((program.groups ?? []).map((group) => [group, []]));
  for (const entry of Object.entries(program.commands)) {
    const group = groupOf(...entry);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push(entry);
  }
  return [...groups]
    .filter(([, commands]) => commands.length > 0)
    .sort(([a], [b]) => Number(a === undefined) - Number(b === undefined));
}

const head = ([name, command]: [string, Command]) => `  ${name} ${command.synopsis}`.trimEnd();

/** The summaries' column: after the longest command line, up to 44. */
function summaryColumn(commands: readonly [string, Command][]): number {
  return Math.min(44, Math.max(...commands.map((entry) => head(entry).length)) + 3);
}

/** `  name synopsis   summary`, summaries in column `width`; a longer line puts its summary below. */
function commandLines(commands: readonly [string, Command][], width = summaryColumn(commands)): string {
  return commands
    .map((entry) => {
      const [first, ...more] = entry[1].summary.split('\n').map((line) => line.trim());
      const line = head(entry);
      const lines =
        line.length + 1 < width ? [`${line.padEnd(width)}${first}`] : [line, `${' '.repeat(width)}${first}`];
      return [...lines, ...more.map((line) => `${' '.repeat(width)}${line}`)].join('\n');
    })
    .join('\n');
}

function usage(program: Program): string {
  const width = summaryColumn(Object.entries(program.commands));
  const groups = grouped(program).map(([group, commands]) => `${group ?? 'other'}:\n${commandLines(commands, width)}`);
  return (
    `Usage: ${program.invocation} COMMAND [OPTIONS]${program.aside ? `   (${program.aside})` : ''}\n\n${groups.join('\n\n')}\n\n` +
    'Every command: --help; exit 0 ok, 1 failure, 2 bad usage.\n'
  );
}

/** The usage of one group, for its name given alone (`./toolkit.ts iso`). */
function groupUsage(program: Program, group: string, commands: readonly [string, Command][]): string {
  return `Usage: ${program.invocation} ${group} COMMAND [OPTIONS]\n\n${commandLines(commands)}\n`;
}

/** Runs the command `argv` names; answers the exit code. */
export async function runCommandLine(program: Program, argv: string[]): Promise<number> {
  const { commands } = program;
  // `--version` is the `version` command, where the program has one.
  if (argv[0] === '--version' && commands.version) argv = ['version', ...argv.slice(1)];
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage(program));
    return first ? 0 : 2;
  }
  const twoWords = rest[0] !== undefined && commands[`${first} ${rest[0]}`] ? `${first} ${rest[0]}` : undefined;
  const args = twoWords ? rest.slice(1) : rest;
  const name = twoWords ?? first;
  const command = commands[name];
  // A group's name alone, or with --help: the group's commands (bad usage unless help was asked).
  const group = command ? undefined : grouped(program).find(([title]) => title === first);
  if (group && (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h')) {
    process.stdout.write(groupUsage(program, first, group[1]));
    return rest.length === 0 ? 2 : 0;
  }
  try {
    if (!command) {
      const known = group ? group[1].map(([known]) => known) : Object.keys(commands);
      throw new UsageError(
        `unknown command '${[first, ...rest.slice(0, 1)].join(' ')}' (${group ? `${first} commands` : 'commands'}: ${known.join(', ')})`,
      );
    }
    if (args.includes('--help') || args.includes('-h')) {
      const [first, ...more] = command.summary.split('\n').map((line) => line.trim());
      process.stdout.write(
        `Usage: ${program.invocation} ${name} ${command.synopsis}\n\n${[first, ...more].map((line) => `  ${line}`).join('\n')}\n`,
      );
      return 0;
    }
    return await command.run(args);
  } catch (error) {
    const usageError = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(
      `${program.name}: ${errorMessage(error)}${usageError ? `\n(see ${program.invocation} --help)` : ''}\n`,
    );
    if (usageError) return 2;
    if (!(error instanceof BuildError) && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
