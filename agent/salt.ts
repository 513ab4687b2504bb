// The hand-over to Salt once the agent has made its changes: the same states and orchestrates
// upstream's iso-manager.sh and solution-manager.sh run, with the same SALT_CALL and CRICTL
// variables. In dry-run mode Salt is run with test=True, which reports and changes nothing.
import { BuildError } from '../buildchain/errors.ts';
import type { SaltCall } from '../buildchain/salt/calls.ts';
import type { Host } from './host.ts';

const ARCHIVES_STATE = 'metalk8s.archives';
const SOLUTION_ORCHESTRATES = ['metalk8s.orchestrate.solutions.available', 'metalk8s.orchestrate.solutions'];

/**
 * Every Salt name the agent invokes, in the shape of buildchain/salt-calls.ts: the build checks
 * that the ISO's Salt tree provides each one. The calls below use these very constants.
 */
export const AGENT_SALT_CALLS: readonly Omit<SaltCall, 'where'>[] = [
  { kind: 'module', name: 'slsutil.renderer' },
  { kind: 'module', name: 'grains.get' },
  { kind: 'module', name: 'state.sls' },
  { kind: 'state', name: ARCHIVES_STATE },
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

async function salt(host: Host, description: string, command: 'SALT_CALL' | 'CRICTL', args: string[]): Promise<void> {
  if (!host.options.dryRun) return host.run(description, command, args);
  host.say(`  ${description} (test=True)`);
  const output = await host.query(command, [...args, 'test=True']);
  if (output.trim()) host.say(output.trimEnd());
}

/** Makes the archives listed in bootstrap.yaml available to the cluster (metalk8s.archives). */
export async function applyArchives(host: Host, version: string): Promise<void> {
  await salt(host, `apply ${ARCHIVES_STATE} (saltenv metalk8s-${version})`, 'SALT_CALL', [
    'state.sls',
    ARCHIVES_STATE,
    `saltenv=metalk8s-${version}`,
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
