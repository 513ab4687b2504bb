// lint: lint:shell (shellcheck), lint:yaml (yamllint), lint:ts (tsc), lint:imports (the import
// rules of .dependency-cruiser.cjs), lint:format (Biome's formatter, 120 columns, biome.json). One private task per checked file where the tool checks files
// one by one, so a clean file is not checked again until it changes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildContext } from './context.ts';
import type { TaskDefinition, TaskSpec } from '../buildchain/engine/task.ts';
import { listFiles } from '../buildchain/fs/walk.ts';

const SKIP = new Set(['node_modules', '.git', '_build', '.cache', 'work']);
const YAML_DIRS = ['salt-tree', 'images', 'packages-rpm', 'examples', 'runtime'];
const TS_DIRS = ['buildchain', 'tasks', 'static-registry', 'agent', 'bench', 'demo', 'test'];
/** What the import rules cover: the product's code, not its tests, benchmarks and demo. */
const IMPORT_CHECKED = ['build.ts', 'toolkit.ts', 'buildchain', 'tasks', 'agent', 'static-registry'];
export const IMPORT_RULES = '.dependency-cruiser.cjs';
export const FORMAT_RULES = 'biome.json';

export const YAMLLINT_CONFIG = '.yamllint.yaml';

export function lintTasks({ config }: BuildContext): TaskDefinition[] {
  const root = config.root;
  return [
    { name: 'lint', doc: 'Run the linting tasks (lint:shell, lint:yaml, lint:ts, lint:imports, lint:format).' },
    { name: 'lint:shell', doc: 'Check the shell scripts with shellcheck.', task_dep: ['_lint_shell:*'] },
    { name: 'lint:yaml', doc: 'Check the YAML files with yamllint.', task_dep: ['_lint_yaml:*'] },
    { name: 'lint:ts', doc: 'Type-check the TypeScript code (tsc --noEmit).', task_dep: ['_lint_ts:*'] },
    {
      name: 'lint:format',
      doc: `Check that the code is as the formatter (Biome, ${FORMAT_RULES}) writes it: npx biome format --write . fixes it.`,
      task_dep: ['_lint_format:*'],
    },
    {
      name: 'lint:imports',
      doc: `Check the import rules of ${IMPORT_RULES} (folders as layers, families apart) with dependency-cruiser.`,
      task_dep: ['_lint_imports:*'],
    },
    {
      basename: '_lint_shell',
      doc: 'shellcheck, one task per script.',
      after: [],
      create: () =>
        shellScripts(root).map(
          (file): TaskSpec => ({
            name: `_lint_shell:${file}`,
            file_dep: [file],
            task_dep: ['check_for:shellcheck'],
            uptodate: [config.bin.shellcheck],
            actions: [[config.bin.shellcheck, '--external-sources', file]],
          }),
        ),
    },
    {
      basename: '_lint_yaml',
      doc: 'yamllint, one task per file.',
      after: [],
      create: () =>
        yamlFiles(root).map(
          (file): TaskSpec => ({
            name: `_lint_yaml:${file}`,
            file_dep: [file, YAMLLINT_CONFIG],
            task_dep: ['check_for:yamllint'],
            uptodate: [config.bin.yamllint],
            actions: [
              [config.bin.yamllint, '--strict', '--config-file', YAMLLINT_CONFIG, '--format', 'parsable', file],
            ],
          }),
        ),
    },
    {
      basename: '_lint_ts',
      doc: 'tsc over the whole project (it checks incrementally itself).',
      after: [],
      create: () => [
        {
          name: '_lint_ts:tsc',
          file_dep: ['tsconfig.json', 'package-lock.json', ...typeScriptFiles(root)],
          actions: [
            [
              join(root, 'node_modules', '.bin', 'tsc'),
              '--project',
              'tsconfig.json',
              '--noEmit',
              '--incremental',
              '--tsBuildInfoFile',
              join(config.buildRoot, 'tsc.tsbuildinfo'),
            ],
          ],
        },
      ],
    },
    {
      basename: '_lint_imports',
      doc: 'dependency-cruiser over the code the rules cover (one run: a rule may span many files).',
      after: [],
      create: () =>
        existsSync(join(root, IMPORT_RULES))
          ? [
              {
                name: '_lint_imports:depcruise',
                file_dep: [
                  IMPORT_RULES,
                  'tsconfig.json',
                  'package-lock.json',
                  ...typeScriptFiles(root).filter((file) =>
                    IMPORT_CHECKED.some((dir) => file === dir || file.startsWith(`${dir}/`)),
                  ),
                ],
                actions: [
                  [
                    join(root, 'node_modules', '.bin', 'depcruise'),
                    '--config',
                    IMPORT_RULES,
                    '--output-type',
                    'err',
                    ...IMPORT_CHECKED.filter((path) => existsSync(join(root, path))),
                  ],
                ],
              },
            ]
          : [],
    },
    {
      basename: '_lint_format',
      doc: "Biome's formatter in check mode over the TypeScript code (one run).",
      after: [],
      create: () =>
        existsSync(join(root, FORMAT_RULES))
          ? [
              {
                name: '_lint_format:biome',
                file_dep: [FORMAT_RULES, 'package-lock.json', ...typeScriptFiles(root)],
                actions: [[join(root, 'node_modules', '.bin', 'biome'), 'format', '--colors=off', '.']],
              },
            ]
          : [],
    },
  ];
}

/** *.sh and *.sh.in anywhere, plus scripts/ and .ci/ files that start with a shell shebang. */
export function shellScripts(root: string): string[] {
  return listFiles(root, { skipDirs: SKIP }).filter((file) => {
    if (/\.sh(\.in)?$/.test(file)) return true;
    if (!/^(scripts|\.ci)\//.test(file)) return false;
    const firstLine = readFileSync(join(root, file), 'utf8').split('\n', 1)[0]!;
    return /^#!.*\b(ba|da|k)?sh\b/.test(firstLine);
  });
}

export function yamlFiles(root: string): string[] {
  return YAML_DIRS.flatMap((dir) => listExisting(root, dir)).filter((file) => /\.ya?ml$/.test(file));
}

export function typeScriptFiles(root: string): string[] {
  const top = readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);
  return [...top, ...TS_DIRS.flatMap((dir) => listExisting(root, dir))].filter((file) => /\.(m?ts)$/.test(file));
}

function listExisting(root: string, dir: string): string[] {
  try {
    return listFiles(join(root, dir), { skipDirs: SKIP }).map((file) => `${dir}/${file}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
