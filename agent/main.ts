// metalk8s-agent: the node-side runtime, bundled into one file (metalk8s-agent.cjs at the ISO
// root) that iso-manager.sh and solution-manager.sh run with the command lines upstream's
// scripts had. It needs Node and nothing else: no node_modules, no network.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { positionals, runCommandLine, type Command } from '../buildchain/command-line.ts';
import { UsageError } from '../buildchain/errors.ts';
import { ARCHIVE_COMMANDS } from './commands.ts';
import { Host } from './host.ts';
import { addArchives } from './iso-manager.ts';
import { mandatoryPackages, PACKAGE_OSES, type PackageOs } from './mandatory-packages.ts';
import { manageSolutions } from './solution-manager.ts';

/** Options every operation takes: where the host is, whether to change it, where to log. */
const HOST_OPTIONS = {
  root: { type: 'string' },
  'dry-run': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  'log-file': { type: 'string', short: 'l' },
  'metalk8s-version': { type: 'string' },
  'no-salt': { type: 'boolean' },
} as const;

function hostFor(
  values: {
    root?: string | undefined;
    'dry-run'?: boolean | undefined;
    verbose?: boolean | undefined;
    'log-file'?: string | undefined;
  },
  logName: string,
  title: string,
): Host {
  const root = resolve(values.root ?? '/');
  const host = new Host({
    root,
    dryRun: values['dry-run'] ?? false,
    verbose: values.verbose ?? false,
    env: process.env,
    logFile: values['log-file'] ? resolve(values['log-file']) : join(root, 'var/log/metalk8s', logName),
  });
  host.say(
    `--- MetalK8s ${title} started on ${new Date().toUTCString()}${host.options.dryRun ? ' (dry run)' : ''} ---`,
  );
  return host;
}

const COMMANDS: Record<string, Command> = {
  'iso-manager': {
    synopsis:
      '-a ISO... [-d|--dry-run] [-v] [-l LOG] [--root DIR] [--sums FILE] [--key PUBKEY] [--skip-checksum] [--no-salt] [--metalk8s-version V]',
    summary:
      'check MetalK8s ISOs, add them to /etc/metalk8s/bootstrap.yaml, mount them, and configure each archive with Salt',
    group: 'node',
    async run(args) {
      const { values } = parseArgs({
        args,
        strict: true,
        allowPositionals: false,
        options: {
          ...HOST_OPTIONS,
          archive: { type: 'string', short: 'a', multiple: true },
          'dry-run': { type: 'boolean', short: 'd' },
          sums: { type: 'string' },
          key: { type: 'string' },
          'skip-checksum': { type: 'boolean' },
        },
      });
      const host = hostFor(values, 'iso-manager.log', 'ISO manager');
      await addArchives(host, {
        archives: values.archive ?? [],
        skipChecksum: values['skip-checksum'] ?? false,
        noSalt: values['no-salt'] ?? false,
        gpg: process.env.GPG_BIN ?? 'gpg',
        ...(values.sums ? { sums: resolve(values.sums) } : {}),
        ...(values.key ? { publicKey: resolve(values.key) } : {}),
        ...(values['metalk8s-version'] ? { metalk8sVersion: values['metalk8s-version'] } : {}),
      });
      return 0;
    },
  },
  'solution-manager': {
    synopsis: '[-a ISO]... [-d ISO]... [--dry-run] [-v] [-l LOG] [--root DIR] [--no-salt] [--metalk8s-version V]',
    summary: 'import Solution ISOs (add) or take them away (del): solutions.yaml, mounts, registry configuration',
    group: 'node',
    async run(args) {
      const { values } = parseArgs({
        args,
        strict: true,
        allowPositionals: false,
        options: {
          ...HOST_OPTIONS,
          add: { type: 'string', short: 'a', multiple: true },
          del: { type: 'string', short: 'd', multiple: true },
        },
      });
      if (!values.add && !values.del) throw new UsageError('solution-manager needs -a/--add or -d/--del');
      const host = hostFor(values, 'solution-manager.log', 'solution manager');
      await manageSolutions(host, {
        add: values.add ?? [],
        remove: values.del ?? [],
        noSalt: values['no-salt'] ?? false,
        ...(values['metalk8s-version'] ? { metalk8sVersion: values['metalk8s-version'] } : {}),
      });
      return 0;
    },
  },
  'mandatory-packages': {
    synopsis: `VERSIONS_JSON --os ${PACKAGE_OSES.join('|')}`,
    summary: "the packages versions.json lists for the OS, one a line as yum names them (bootstrap.sh's check)",
    group: 'node',
    run(argv) {
      const { values, args } = positionals(argv, { os: { type: 'string' } }, ['VERSIONS_JSON']);
      const os = values.os as string | undefined;
      if (!PACKAGE_OSES.includes(os as PackageOs))
        throw new UsageError(`--os must be one of ${PACKAGE_OSES.join(', ')}, not ${os ?? 'missing'}`);
      for (const name of mandatoryPackages(args[0]!, os as PackageOs)) process.stdout.write(`${name}\n`);
      return 0;
    },
  },
  ...ARCHIVE_COMMANDS,
};

void runCommandLine(
  { invocation: 'metalk8s-agent', name: 'metalk8s-agent', commands: COMMANDS },
  process.argv.slice(2),
).then((code) => {
  process.exitCode = code;
});
