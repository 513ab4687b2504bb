// The node the agent changes, seen through two switches every operation honours: `--root DIR`
// (a prefix for every host path, so a test or an image build works on a tree of its own) and
// `--dry-run` (say each change, make none). Commands that touch the system (mount, Salt, nginx)
// come from environment variables, as upstream's SALT_CALL and CRICTL do, so that they can be
// replaced where the real ones cannot run.
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BuildError } from '../buildchain/errors.ts';

export interface HostOptions {
  /** Prefix of every host path ('/' on a real node). */
  root: string;
  dryRun: boolean;
  verbose: boolean;
  env: NodeJS.ProcessEnv;
  /** Appended to with every line said (the operator's log file), when given. */
  logFile?: string;
}

/** Commands the agent runs, each overridable by the variable of the same name. */
const COMMANDS = {
  SALT_CALL: 'salt-call',
  CRICTL: 'crictl',
  MOUNT: 'mount',
  UMOUNT: 'umount',
} as const;
export type CommandName = keyof typeof COMMANDS | 'NGINX_RELOAD';

export class Host {
  constructor(readonly options: HostOptions) {
    if (options.logFile) mkdirSync(dirname(options.logFile), { recursive: true });
  }

  /** Where a host path (absolute, as on the node) is under --root. */
  path(hostPath: string): string {
    return join(this.options.root, hostPath);
  }

  say(line: string): void {
    process.stdout.write(`${line}\n`);
    if (this.options.logFile) appendFileSync(this.options.logFile, `${line}\n`);
  }

  /** Applies a change and says it; in dry-run mode only says it, marked `[dry run]`. */
  async change(description: string, apply: () => Promise<void>): Promise<void> {
    if (this.options.dryRun) {
      this.say(`  [dry run] ${description}`);
      return;
    }
    await apply();
    this.say(`  ${description}`);
  }

  /** The command line of a system command: its variable (split on blanks) or the default. */
  command(name: CommandName): string[] | undefined {
    const set = this.options.env[name]?.trim();
    if (set) return set.split(/\s+/);
    return name === 'NGINX_RELOAD' ? undefined : [COMMANDS[name]];
  }

  /** Runs a command that only reads (answers even in dry-run mode); returns its stdout. */
  query(name: CommandName, args: readonly string[]): Promise<string> {
    return this.exec(name, args);
  }

  /** Runs a command that changes the system, unless in dry-run mode. */
  async run(description: string, name: CommandName, args: readonly string[]): Promise<void> {
    await this.change(description, async () => {
      const output = await this.exec(name, args);
      if (this.options.verbose && output.trim()) this.say(output.trimEnd());
    });
  }

  private exec(name: CommandName, args: readonly string[]): Promise<string> {
    const [file, ...fixed] = this.command(name) ?? [];
    if (!file) throw new BuildError(`${name} is not set`);
    const argv = [...fixed, ...args];
    return new Promise((resolve, reject) => {
      execFile(file, argv, { env: this.options.env, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
        if (!error) return resolve(String(stdout));
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT')
          return reject(new BuildError(`${name}: '${file}' not found (set ${name} to the command to use)`));
        const said = `${String(stderr)}${String(stdout)}`.trim().split('\n').slice(-15).join('\n');
        reject(new BuildError(`${[file, ...argv].join(' ')} failed${said ? `:\n${said}` : ` (${error.message})`}`));
      });
    });
  }
}
