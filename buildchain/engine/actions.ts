// Runs a task's actions: functions in-process, commands as child processes without a shell
// (unless a ShellAction asks for one), with their output captured per task.
import type { Action, ActionContext, CommandOptions } from './task.ts';
import * as builtins from '../builtins.ts';

/** Output kept per task; beyond this only the tail is kept (a runaway command cannot fill memory). */
const OUTPUT_LIMIT = 4 << 20;

/**
 * How much of the actions' output is shown as it comes, as doit's -v: 0 none, 1 stderr, 2 both.
 * All of it is kept either way, and printed for a failed task.
 */
export type Verbosity = 0 | 1 | 2;

export class TaskOutput {
  out = '';
  err = '';
  constructor(private readonly verbosity: Verbosity) {}

  write(stream: 'out' | 'err', text: string): void {
    if (this.verbosity === 2 || (this.verbosity === 1 && stream === 'err'))
      (stream === 'out' ? process.stdout : process.stderr).write(text);
    const next = this[stream] + text;
    this[stream] = next.length > OUTPUT_LIMIT ? next.slice(next.length - OUTPUT_LIMIT) : next;
  }
}

/** An action failed: the message is one line naming the task's command or cause. */
export class ActionError extends Error {
  override name = 'ActionError';
}

export function describeAction(action: Action): string {
  if (typeof action === 'function') return action.name ? `${action.name}()` : 'function';
  const argv = commandOf(action).argv;
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function commandOf(action: Exclude<Action, (...args: never[]) => unknown>): CommandOptions {
  if ('shell' in action) return { argv: ['/bin/sh', '-c', action.shell] };
  if ('argv' in action) return action;
  return { argv: action as readonly string[] };
}

export async function runAction(action: Action, context: ActionContext, output: TaskOutput): Promise<void> {
  if (typeof action === 'function') {
    await action(context);
    return;
  }
  await runCommand(commandOf(action), context, output);
}

function runCommand(command: CommandOptions, context: ActionContext, output: TaskOutput): Promise<void> {
  const [program, ...args] = command.argv;
  if (!program) return Promise.reject(new ActionError('empty command'));
  const shown = describeAction(command.argv);
  return new Promise((resolvePromise, reject) => {
    // Loaded here, not at start: a no-op build never spawns anything.
    const { spawn } = builtins.childProcess();
    const child = spawn(program, args, {
      cwd: command.cwd ?? context.root,
      env: command.env ? { ...process.env, ...command.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: context.signal,
    });
    child.stdout.setEncoding('utf8').on('data', (text: string) => output.write('out', text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => output.write('err', text));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') reject(new ActionError(`command not found: ${program} (in: ${shown})`));
      else if (error.name === 'AbortError') reject(new ActionError(`interrupted: ${shown}`));
      else reject(new ActionError(`${shown}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise();
      else if (signal) reject(new ActionError(`${shown} was killed by ${signal}`));
      else reject(new ActionError(`${shown} exited with code ${code}`));
    });
  });
}
