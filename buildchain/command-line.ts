// Sub-command dispatch shared by ./toolkit.ts and the node-side agent: one or two words name a
// command (`version`, `iso create`), `--help` prints its line, and errors map to the documented
// exit codes: 0 success, 1 failure (one line naming the file, field or URL), 2 bad usage.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BuildError, UsageError, errorMessage } from './errors.ts';

export interface Command {
  summary: string;
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
}

/** Positionals of a command, or a usage error saying which are expected. */
export function positionals(args: string[], options: NonNullable<ParseArgsConfig['options']>, names: string[]) {
  const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  if (parsed.positionals.length !== names.length) throw new UsageError(`expected ${names.join(' ')}, got ${parsed.positionals.length} argument(s)`);
  return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, args: parsed.positionals };
}

function usage(program: Program): string {
  return `Usage: ${program.invocation} COMMAND [OPTIONS]${program.aside ? `   (${program.aside})` : ''}\n\nCommands:\n${Object.values(program.commands)
    .map((command) => `  ${command.summary}`)
    .join('\n')}\n\nEvery command: --help; exit 0 ok, 1 failure, 2 bad usage.\n`;
}

/** Runs the command `argv` names; answers the exit code. */
export async function runCommandLine(program: Program, argv: string[]): Promise<number> {
  const { commands } = program;
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage(program));
    return first ? 0 : 2;
  }
  const twoWords = rest[0] !== undefined && commands[`${first} ${rest[0]}`] ? `${first} ${rest[0]}` : undefined;
  const args = twoWords ? rest.slice(1) : rest;
  const command = commands[twoWords ?? first];
  try {
    if (!command) throw new UsageError(`unknown command '${[first, ...rest.slice(0, 1)].join(' ')}' (commands: ${Object.keys(commands).join(', ')})`);
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(`Usage: ${program.invocation} ${command.summary}\n`);
      return 0;
    }
    return await command.run(args);
  } catch (error) {
    const usageError = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`${program.name}: ${errorMessage(error)}${usageError ? `\n(see ${program.invocation} --help)` : ''}\n`);
    if (usageError) return 2;
    if (!(error instanceof BuildError) && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
