#!/bin/sh
//bin/true; f=$0; [ -L "$f" ] && f=$(readlink -f "$f"); case $f in */*) ;; *) f=./$f ;; esac; [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && export METALK8S_DEFERRED_CA_CERTS="$NODE_EXTRA_CA_CERTS" && unset NODE_EXTRA_CA_CERTS; exec node "${f%/*}/buildchain/launch.cjs" "$f" "$@"
// ./toolkit.ts (metalk8s-toolkit): the artifact toolkit for release pipelines, Solution vendors
// and nodes. A thin argv layer: each command's logic lives in buildchain/, static-registry/ or agent/.
// Exit codes: 0 success, 1 failure (one line naming the file, field or URL), 2 bad usage.
import { parseArgs } from 'node:util';
import { loadConfig } from './buildchain/config.ts';
import { BuildError, UsageError, errorMessage } from './buildchain/errors.ts';
import { projectRoot } from './buildchain/paths.ts';

interface Command {
  summary: string;
  run(args: string[]): Promise<number> | number;
}

const COMMANDS: Record<string, Command> = {
  version: {
    summary: 'version [--json]    the toolkit version and source revision',
    run(args) {
      const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
      const config = loadConfig(projectRoot());
      const info = { name: config.projectName, version: config.version.full, git: config.gitRef() ?? null };
      process.stdout.write(values.json ? `${JSON.stringify(info)}\n` : `${info.name} toolkit ${info.version}${info.git ? ` (${info.git})` : ''}\n`);
      return 0;
    },
  },
};

function usage(): string {
  return `Usage: ./toolkit.ts COMMAND [OPTIONS]   (also installed as metalk8s-toolkit)\n\nCommands:\n${Object.values(COMMANDS)
    .map((command) => `  ${command.summary}`)
    .join('\n')}\n\nEvery command: --help; exit 0 ok, 1 failure, 2 bad usage.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(`Usage: ./toolkit.ts ${command.summary}\n`);
      return 0;
    }
    return await command.run(args);
  } catch (error) {
    const usageError = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`toolkit: ${errorMessage(error)}${usageError ? '\n(see ./toolkit.ts --help)' : ''}\n`);
    if (usageError) return 2;
    if (!(error instanceof BuildError) && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
