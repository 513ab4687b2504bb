// The hand-over to Salt once the agent has made its changes: the same states and orchestrates
// upstream's iso-manager.sh and solution-manager.sh run, with the same SALT_CALL and CRICTL
// variables. In dry-run mode Salt is run with test=True, which reports and changes nothing.
import { BuildError } from '../buildchain/errors.ts';
import type { SaltCall } from '../buildchain/salt/calls.ts';
import type { Host } from './host.ts';

const ARCHIVES_STATE = 'metalk8s.archives';
const ARCHIVES_MOUNTED = 'metalk8s.archives.mounted';
const ARCHIVES_CONFIGURED = 'metalk8s.archives.configured';
/** What Salt answers with the saltenvs of the archives bootstrap.yaml lists (its pillar's metalk8s:archives). */
const ARCHIVE_SALTENVS = "string={{ salt.metalk8s.get_archives().keys() | join(' ') }}";
const SOLUTION_ORCHESTRATES = ['metalk8s.orchestrate.solutions.available', 'metalk8s.orchestrate.solutions'];

/**
 * Every Salt name the agent invokes, in the shape of buildchain/salt-calls.ts: the build checks
 * that the ISO's Salt tree provides each one. The calls below use these very constants.
 */
export const AGENT_SALT_CALLS: readonly Omit<SaltCall, 'where'>[] = [
  { kind: 'module', name: 'slsutil.renderer' },
  { kind: 'module', name: 'metalk8s.get_archives' },
  { kind: 'module', name: 'grains.get' },
  { kind: 'module', name: 'pillar.get' },
  { kind: 'module', name: 'state.sls' },
  { kind: 'state', name: ARCHIVES_STATE },
  { kind: 'state', name: ARCHIVES_MOUNTED },
  { kind: 'state', name: ARCHIVES_CONFIGURED },
  { kind: 'runner', name: 'state.orchestrate' },
  ...SOLUTION_ORCHESTRATES.map((name) => ({ kind: 'state' as const, name })),
];

/** `local: value` (salt-call --out txt) without its prefix. */
function localValue(output: string, what: string): string {
  const match = /^local:\s*(.*)$/m.exec(output);
  const value = match?.[1]?.trim();
  if (!value) throw new BuildError(`salt-call did not say ${what} (it printed: ${output.trim() || 'nothing'})`);
  return value;
}

/** The MetalK8s version this node runs, as its pillar says (or as given). */
export async function nodeVersion(host: Host, given?: string): Promise<string> {
  if (given) return given;
  const output = await host.query('SALT_CALL', [
    '--out',
    'txt',
    'slsutil.renderer',
    'string={{ pillar.metalk8s.nodes[grains.id].version }}',
  ]);
  return localValue(output, "this node's MetalK8s version");
}

/** Runs a Salt command whose arguments already say test=True in dry-run mode; shows its output then. */
async function runSalt(
  host: Host,
  description: string,
  command: 'SALT_CALL' | 'CRICTL',
  args: string[],
): Promise<void> {
  if (!host.options.dryRun) return host.run(description, command, args);
  host.say(`  ${description} (test=True)`);
  const output = await host.query(command, args);
  if (output.trim()) host.say(output.trimEnd());
}

/** Runs a Salt command, with test=True added in dry-run mode. */
function salt(host: Host, description: string, command: 'SALT_CALL' | 'CRICTL', args: string[]): Promise<void> {
  return runSalt(host, description, command, host.options.dryRun ? [...args, 'test=True'] : args);
}

/**
 * Upstream's _configure_archives, with its command lines and order: every archive bootstrap.yaml
 * lists is mounted (metalk8s.archives.mounted in this node's saltenv); then each is configured
 * with its own version's states (metalk8s.archives.configured in metalk8s-<its version>, which
 * writes its repositories' and registry's configuration), in the order Salt lists them; last,
 * metalk8s.archives in this node's saltenv makes them available.
 */
export async function configureArchives(host: Host, version: string): Promise<void> {
  const saltenv = `saltenv=metalk8s-${version}`;
  const test = `test=${host.options.dryRun ? 'True' : 'False'}`;
  await runSalt(host, `apply ${ARCHIVES_MOUNTED} (${saltenv})`, 'SALT_CALL', [
    'state.sls',
    ARCHIVES_MOUNTED,
    saltenv,
    test,
    '--retcode-passthrough',
  ]);
  const archives = localValue(
    await host.query('SALT_CALL', ['--out', 'txt', 'slsutil.renderer', ARCHIVE_SALTENVS]),
    'the saltenvs of the archives in bootstrap.yaml',
  );
  for (const archive of archives.split(/\s+/)) {
    // Asked again for each archive, as upstream's loop does.
    const endpoints = localValue(
      await host.query('SALT_CALL', ['--out', 'txt', 'pillar.get', 'metalk8s:endpoints']),
      'the endpoints (pillar metalk8s:endpoints)',
    );
    await runSalt(host, `apply ${ARCHIVES_CONFIGURED} (saltenv=${archive})`, 'SALT_CALL', [
      '--local',
      'state.sls',
      ARCHIVES_CONFIGURED,
      `saltenv=${archive}`,
      `pillar={'metalk8s': {'endpoints': ${endpoints}}}`,
      test,
      '--retcode-passthrough',
    ]);
  }
  await runSalt(host, `apply ${ARCHIVES_STATE} (${saltenv})`, 'SALT_CALL', [
    'state.sls',
    ARCHIVES_STATE,
    saltenv,
    test,
    '--retcode-passthrough',
  ]);
}

/** Runs the Solutions orchestrates on the salt-master, which import and deploy what solutions.yaml lists. */
export async function orchestrateSolutions(host: Host, version: string): Promise<void> {
  const master = (await host.query('CRICTL', ['ps', '-q', '--label', 'io.kubernetes.container.name=salt-master']))
    .trim()
    .split('\n')[0];
  if (!master) throw new BuildError('no salt-master container is running on this node (crictl ps found none)');
  const bootstrapId = localValue(
    await host.query('SALT_CALL', ['--local', '--out', 'txt', 'grains.get', 'id']),
    'the minion id',
  );
  for (const orchestrate of SOLUTION_ORCHESTRATES) {
    await salt(host, `orchestrate ${orchestrate}`, 'CRICTL', [
      'exec',
      master,
      'salt-run',
      'state.orchestrate',
      orchestrate,
      `saltenv=metalk8s-${version}`,
      `pillar={'bootstrap_id': '${bootstrapId}'}`,
    ]);
  }
}
