// Command line of the task runner: `./build.ts [VERB] [OPTIONS] [TASK...]`, doit's verbs.
// Exit codes: 0 success, 1 a task or an input failed, 2 bad usage, 130 interrupted.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ensureBundle } from '../launch/bundle.cjs';
import { BuildError, UsageError, errorMessage, isBuildError } from '../errors.ts';
import { projectRoot } from '../paths.ts';
import { Engine } from './engine.ts';
import { createConsoleReporter, JsonReporter } from './reporters.ts';
import type { Project as EngineProject, ProjectCache } from './engine.ts';
import type { TaskDefinition } from './task.ts';
import { completionScript } from './tabcompletion.ts';

/**
 * What a project tells the engine, as doit's dodo.py does: its tasks, where their state lives,
 * what runs by default. The engine knows no project beyond this.
 */
export interface Project {
  definitions: readonly TaskDefinition[];
  buildRoot: string;
  defaultTasks?: readonly string[];
  /** Said on stderr before anything runs (unknown settings...). */
  warnings?: readonly string[];
  /** Said when no task is named and there is no default. */
  missingDefaultHint?: string;
  /** Where cacheable tasks' results are shared with other runners (CACHE_REGISTRY for ./build.ts). */
  cache?: ProjectCache;
  /** Digests of files the project knows without reading them (engine.ts' Project.knownDigest). */
  knownDigest?: EngineProject['knownDigest'];
}

/**
 * A project module: `project(root)` (./build.ts's tasks/, or a task file re-exporting it), or a
 * plain task file exporting `tasks()` and optionally DEFAULT_TASKS, its state in ROOT/_build.
 */
export interface TaskModule {
  project?(root: string): Project | Promise<Project>;
  tasks?(): readonly TaskDefinition[] | Promise<readonly TaskDefinition[]>;
  DEFAULT_TASKS?: readonly string[];
  MISSING_DEFAULT_HINT?: string;
}

export const VERBS = [
  'run',
  'list',
  'info',
  'why',
  'state',
  'dumpdb',
  'clean',
  'ignore',
  'forget',
  'tabcompletion',
  'help',
] as const;
type Verb = (typeof VERBS)[number];

const COMMON = {
  file: { type: 'string', short: 'f' },
  help: { type: 'boolean', short: 'h' },
} as const;

const OPTIONS: Record<Verb, ParseArgsConfig['options']> = {
  run: {
    ...COMMON,
    process: { type: 'string', short: 'n' },
    reporter: { type: 'string' },
    verbosity: { type: 'string', short: 'v' },
    'lock-wait': { type: 'string' },
  },
  list: {
    ...COMMON,
    all: { type: 'boolean' },
    private: { type: 'boolean', short: 'p' },
    quiet: { type: 'boolean', short: 'q' },
    status: { type: 'boolean', short: 's' },
    json: { type: 'boolean' },
    reporter: { type: 'string' },
  },
  info: { ...COMMON },
  why: { ...COMMON },
  state: { ...COMMON },
  dumpdb: { ...COMMON },
  clean: { ...COMMON, 'dry-run': { type: 'boolean', short: 'n' }, 'lock-wait': { type: 'string' } },
  ignore: { ...COMMON },
  forget: { ...COMMON },
  tabcompletion: { ...COMMON, shell: { type: 'string' } },
  help: { ...COMMON },
};

function usage(program: string): string {
  return `Usage: ${program} [run] [OPTIONS] [TASK...]     run tasks (default: the default tasks)
       ${program} list [--all] [-p|--private] [-q|--quiet] [-s|--status] [--json]
       ${program} info TASK  |  help TASK
       ${program} why TASK                       which of its inputs changed: every reason it would run
       ${program} state TASK  (or dumpdb TASK)   its recorded state as JSON: last success, file_dep records
       ${program} clean [-n|--dry-run] [TASK...]   (all tasks when none is named; dependencies too)
       ${program} ignore TASK...  |  forget [TASK...]
       ${program} tabcompletion --shell bash|zsh

Run options:
  -n, --process N      parallel workers (default: number of cores)
  --reporter console|json
  -v, --verbosity 0|1|2  action output shown as it comes: 0 none, 1 stderr, 2 both (-v alone: 2);
                       all of it is printed for a failed task
  --lock-wait SECONDS  wait for another build on the same BUILD_ROOT instead of failing
Every verb (options may come before the verb too: ./build.ts -n 4 run iso):
  -f, --file FILE      take the tasks from FILE (a .ts or .js module exporting project(root), or tasks())
  -h, --help

TASK may use wildcards: '_image_pull:*'. Output: '..' executed, '--' up to date, '!!' ignored.
Exit codes: 0 ok, 1 failure, 2 bad usage, 130 interrupted.
`;
}

/**
 * `builtin`: the project run when no `-f` is given, or a function loading it, so that a run
 * of another task file does not load (and compile) it.
 */
export async function main(
  argv: readonly string[],
  builtin: TaskModule | (() => Promise<TaskModule>),
  program = './build.ts',
): Promise<number> {
  try {
    return await dispatch(argv, builtin, program);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${program}: ${error.message}\n(see ${program} --help)\n`);
      return 2;
    }
    if (isBuildError(error)) {
      process.stderr.write(`${program}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`${program}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

/** Options of any verb that take the next word as their value, whatever comes after them. */
const VALUE_OPTIONS = new Set(['-f', '--file', '--reporter', '--lock-wait', '--shell', '--process', '--verbosity']);

/**
 * The verb is the first word that is not an option or an option's value, so that options may
 * come before it as after it (`./build.ts --reporter json list`). `-n` takes a value only when a
 * number follows (run's workers; clean's `-n` is its dry run), `-v` only when 0, 1 or 2 does.
 */
export function splitVerb(argv: readonly string[]): { verb: Verb; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      const next = argv[i + 1] ?? '';
      if (VALUE_OPTIONS.has(arg) || (arg === '-n' && /^\d+$/.test(next)) || (arg === '-v' && /^[012]$/.test(next))) i++;
      continue;
    }
    if ((VERBS as readonly string[]).includes(arg)) return { verb: arg as Verb, rest: argv.toSpliced(i, 1) };
    break;
  }
  return { verb: 'run', rest: [...argv] };
}

/** doit's bare `-v` and our former `--verbose` both mean verbosity 2. */
function normaliseVerbosity(args: readonly string[]): string[] {
  return args.flatMap((arg, i) => {
    if (arg === '--verbose') return ['--verbosity', '2'];
    if (arg === '-v' && !/^[012]$/.test(args[i + 1] ?? '')) return ['-v', '2'];
    return [arg];
  });
}

async function dispatch(
  argv: readonly string[],
  builtin: TaskModule | (() => Promise<TaskModule>),
  program: string,
): Promise<number> {
  const { verb, rest } = splitVerb(argv);
  let parsed;
  try {
    const args = verb === 'run' ? normaliseVerbosity(rest) : rest;
    parsed = parseArgs({ args, options: OPTIONS[verb], allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const positionals = parsed.positionals;
  if (values.help || (verb === 'help' && positionals.length === 0)) {
    process.stdout.write(usage(program));
    return 0;
  }
  if (verb === 'tabcompletion') {
    process.stdout.write(completionScript(String(values.shell ?? 'bash'), program, VERBS));
    return 0;
  }

  const engine = await openEngine(typeof values.file === 'string' ? values.file : undefined, builtin);
  switch (verb) {
    case 'list': {
      if (values.reporter !== undefined && values.reporter !== 'json' && values.reporter !== 'console')
        throw new UsageError(`unknown reporter '${String(values.reporter)}' (console or json)`);
      const status = Boolean(values.status);
      const rows = await engine.list({ all: Boolean(values.all), private: Boolean(values.private), status });
      if (values.json || values.reporter === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (values.quiet) process.stdout.write(rows.map((row) => `${row.name}\n`).join(''));
      else {
        const width = Math.max(0, ...rows.map((row) => row.name.length));
        const column = (row: (typeof rows)[number]): string => (status ? `${(row.status ?? '').padEnd(10)}  ` : '');
        process.stdout.write(
          rows.map((row) => `${column(row)}${row.name.padEnd(width)}  ${row.doc}`.trimEnd() + '\n').join(''),
        );
      }
      return 0;
    }
    case 'help':
    case 'info': {
      if (positionals.length !== 1) throw new UsageError(`${verb} takes exactly one task name`);
      process.stdout.write(await engine.info(positionals[0]!));
      return 0;
    }
    case 'why': {
      if (positionals.length !== 1) throw new UsageError('why takes exactly one task name');
      const { status, reasons } = await engine.why(positionals[0]!);
      const said: Record<string, string> = {
        'up-to-date': 'up to date: nothing changed since its last success',
        ignored: 'ignored (./build.ts forget to undo)',
        delayed: 'its subtasks are created when it runs',
      };
      process.stdout.write(status === 'run' ? reasons.map((reason) => `${reason}\n`).join('') : `${said[status]}\n`);
      return 0;
    }
    case 'state':
    case 'dumpdb': {
      if (positionals.length !== 1) throw new UsageError(`${verb} takes exactly one task name`);
      process.stdout.write(`${JSON.stringify(await engine.stateOf(positionals[0]!), null, 2)}\n`);
      return 0;
    }
    case 'clean': {
      await engine.clean(positionals, {
        dryRun: Boolean(values['dry-run']),
        log: (message) => process.stdout.write(`${message}\n`),
        lockWaitSeconds: seconds(values['lock-wait'], '--lock-wait'),
      });
      return 0;
    }
    case 'ignore':
    case 'forget': {
      if (verb === 'ignore' && positionals.length === 0) throw new UsageError('ignore takes one or more task names');
      const names = verb === 'ignore' ? await engine.ignore(positionals) : await engine.forget(positionals);
      process.stdout.write(names.map((name) => `${verb === 'ignore' ? 'ignoring' : 'forgot'} ${name}\n`).join(''));
      return 0;
    }
    default:
      return runVerb(engine, positionals, values);
  }
}

async function runVerb(
  engine: Engine,
  tasks: readonly string[],
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  const workers = values.process === undefined ? availableParallelism() : Number(values.process);
  if (!Number.isInteger(workers) || workers < 1)
    throw new UsageError(`-n/--process needs a whole number of workers, not '${String(values.process)}'`);
  const reporterName = values.reporter ?? 'console';
  if (reporterName !== 'console' && reporterName !== 'json')
    throw new UsageError(`unknown reporter '${String(reporterName)}' (console or json)`);
  const verbosity = Number(values.verbosity ?? 0);
  if (verbosity !== 0 && verbosity !== 1 && verbosity !== 2)
    throw new UsageError(`-v/--verbosity is 0, 1 or 2, not '${String(values.verbosity)}'`);
  const reporter = reporterName === 'json' ? new JsonReporter() : await createConsoleReporter({ verbosity });

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130); // second Ctrl-C: give up waiting
    process.stderr.write(`\n${signal}: stopping running tasks (again to force)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await engine.run({
      tasks,
      workers,
      reporter,
      verbosity,
      signal: controller.signal,
      lockWaitSeconds: seconds(values['lock-wait'], '--lock-wait'),
    });
    return summary.interrupted ? 130 : summary.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function seconds(value: string | boolean | undefined, option: string): number {
  if (value === undefined) return 0;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0)
    throw new UsageError(`${option} needs a number of seconds, not '${String(value)}'`);
  return number;
}

/** The project of the built-in tasks, or of a task file given with -f (rooted at its folder). */
async function openEngine(
  file: string | undefined,
  builtin: TaskModule | (() => Promise<TaskModule>),
): Promise<Engine> {
  let module: TaskModule;
  let root = projectRoot();
  if (file !== undefined) {
    const path = resolve(file);
    root = dirname(path);
    module = await importTaskFile(path);
  } else module = typeof builtin === 'function' ? await builtin() : builtin;
  // As doit: tasks run from their project's root, so relative paths in function actions hold.
  process.chdir(root);
  const project: Project = module.project
    ? await module.project(root)
    : {
        definitions: await module.tasks!(),
        buildRoot: join(root, '_build'),
        defaultTasks: module.DEFAULT_TASKS ?? [],
        ...(module.MISSING_DEFAULT_HINT ? { missingDefaultHint: module.MISSING_DEFAULT_HINT } : {}),
      };
  for (const warning of project.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
  return new Engine({
    root,
    buildRoot: project.buildRoot,
    definitions: project.definitions,
    defaultTasks: project.defaultTasks ?? [],
    ...(project.missingDefaultHint ? { missingDefaultHint: project.missingDefaultHint } : {}),
    ...(project.cache ? { cache: project.cache } : {}),
    ...(project.knownDigest ? { knownDigest: project.knownDigest } : {}),
  });
}

async function importTaskFile(path: string): Promise<TaskModule> {
  let compiled: string;
  try {
    compiled = /\.[cm]?js$/.test(path) ? path : await ensureBundle(projectRoot(), path);
  } catch (error) {
    throw new BuildError(`${path}: cannot compile the task file: ${errorMessage(error)}`);
  }
  let module: Partial<TaskModule>;
  try {
    // Our bundles are CommonJS: require() skips the ES module loader's start-up cost.
    module = (
      compiled.endsWith('.cjs') ? createRequire(compiled)(compiled) : await import(pathToFileURL(compiled).href)
    ) as Partial<TaskModule>;
  } catch (error) {
    throw new BuildError(`${path}: cannot load the task file: ${errorMessage(error)}`);
  }
  if (typeof module.project !== 'function' && typeof module.tasks !== 'function')
    throw new BuildError(`${path}: a task file must export a function project(root) or tasks()`);
  return module as TaskModule;
}
