// check_for:<tool>: fail early, with the apt-get line, when an external tool is missing.
import type { BuildConfig } from './config.ts';
import type { BuildContext } from './context.ts';
import type { TaskSpec } from '../buildchain/engine/task.ts';
import { findExecutable, requireExecutable } from '../buildchain/tools.ts';

/** Tool name -> [configured command, the .env setting that changes it]. */
function tools(config: BuildConfig): Record<string, [string, string]> {
  return {
    shellcheck: [config.bin.shellcheck, 'SHELLCHECK_BIN'],
    yamllint: [config.bin.yamllint, 'YAMLLINT_BIN'],
    vagrant: [config.bin.vagrant, 'VAGRANT_BIN'],
    'sphinx-build': [config.bin.sphinxBuild, 'SPHINX_BUILD_BIN'],
  };
}

export function toolCheckTasks({ config }: BuildContext): TaskSpec[] {
  return [
    { name: 'check_for', doc: 'Check that the external tools the build needs are installed.' },
    ...Object.entries(tools(config)).map(
      ([tool, [command, setting]]): TaskSpec => ({
        name: `check_for:${tool}`,
        doc: `Check that ${tool} is installed (${setting}=${command}).`,
        actions: [() => void requireExecutable(command, setting, tool)],
        // Up to date while the same command is still found: a removed tool is noticed at once.
        uptodate: [command, () => findExecutable(command) !== undefined],
      }),
    ),
  ];
}
