// A MetalK8s node for the agent's tests: the ISO root's scripts with the agent bundled beside
// them and the runtime the ISO ships (runtime/node, Node.js 16: not the test runner's Node.js),
// as the build puts them, an empty host root for --root, and the system commands the agent and
// the scripts run replaced through their variables (SALT_CALL, CRICTL, MOUNT, UMOUNT, YUM, RPM,
// SYSTEMCTL, SUBSCRIPTION_MANAGER), as upstream replaces SALT_CALL. The mount is an extraction
// with the agent's own ISO reader; Salt's answer about the archives is read, as Salt reads it,
// from bootstrap.yaml and each archive's product.txt; every command run is recorded.
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeTarget } from '../buildchain/sources/npm-runtime.ts';
import { bundleStandalone } from '../buildchain/launch/standalone-bundle.ts';
import { PROJECT_ROOT, requireTool, runCli, tempDir, type CliResult } from './helpers.ts';
import { unpackShippedRuntime } from './node-runtime.ts';
import { declaredRuntime } from './runtime-cache.ts';

export interface FakeNode {
  /** The host root given with --root. */
  root: string;
  /** Where the scripts and metalk8s-agent.cjs are, as at an ISO root. */
  scripts: string;
  env: Record<string, string>;
  /** Command lines run so far (`salt-call state.sls ...`). */
  calls(): string[];
  run(script: string, args: readonly string[], env?: Record<string, string>): Promise<CliResult>;
}

/** The pillar's metalk8s:endpoints, as `salt-call --out txt` prints it. */
export const ENDPOINTS =
  "{'repositories': {'ip': '172.21.254.2', 'ports': {'http': 8080}}, 'salt-master': {'ip': '172.21.254.2'}}";

function script(file: string, body: string): string {
  writeFileSync(file, `#!/bin/sh\necho "\${0##*/} $*" >> "${join(file, '..', 'calls.log')}"\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

export async function fakeNode(
  options: {
    version?: string;
    isoVersion?: string;
    /** The cluster's nodes other than the bootstrap node, as Salt's pillar lists them. */
    otherNodes?: string[];
  } = {},
): Promise<FakeNode> {
  const root = tempDir('mk8s-node-');
  chmodSync(root, 0o755); // nginx workers (user nobody) serve what gets mounted under it
  const scripts = tempDir('mk8s-iso-root-');
  // As _iso_add_tree lays them out: templates rendered with the version, their suffix dropped.
  for (const file of readdirSync(join(PROJECT_ROOT, 'scripts'))) {
    const text = readFileSync(join(PROJECT_ROOT, 'scripts', file), 'utf8');
    writeFileSync(
      join(scripts, file.replace(/\.in$/, '')),
      text.replaceAll('@@VERSION', options.isoVersion ?? '2.4.1'),
      { mode: statSync(join(PROJECT_ROOT, 'scripts', file)).mode },
    );
  }
  // Bundled and given its runtime as the _iso_add_tree tasks do.
  await bundleStandalone(join(PROJECT_ROOT, 'agent/main.ts'), join(scripts, 'metalk8s-agent.cjs'), {
    root: PROJECT_ROOT,
    target: runtimeTarget(declaredRuntime()),
    define: { 'process.env.METALK8S_AGENT_VERSION': JSON.stringify(options.isoVersion ?? '2.4.1') },
  });
  const node = await unpackShippedRuntime(join(scripts, 'runtime'));
  const bin = tempDir('mk8s-bin-');
  const env = {
    SALT_CALL: script(
      join(bin, 'salt-call'),
      [
        'case "$*" in',
        // salt.metalk8s.get_archives(): metalk8s-<VERSION> of each archive of bootstrap.yaml, ISO
        // or directory, a host path (under the root) or not; what is neither is skipped, as Salt does.
        '  *get_archives*)',
        '    envs=""',
        `    for archive in $(sed -n '/^archives:/,/^[^ #]/s/^ *- //p' "${root}/etc/metalk8s/bootstrap.yaml"); do`,
        `      [ -e "$archive" ] || archive="${root}$archive"`,
        '      if [ -d "$archive" ]; then product=$(cat "$archive/product.txt")',
        `      elif [ -f "$archive" ]; then product=$("${requireTool('bsdtar')}" -xOf "$archive" product.txt)`,
        '      else continue; fi',
        '      envs="$envs metalk8s-$(echo "$product" | sed -n "s/^VERSION=//p")"',
        '    done',
        '    echo "local:$envs" ;;',
        `  *minions_by_role*) echo "local: ${(options.otherNodes ?? []).join(',')}" ;;`,
        `  *slsutil.renderer*) echo "local: ${options.version ?? '2.4.1'}" ;;`,
        '  *grains.get\\ id*) echo "local: bootstrap" ;;',
        '  *grains.get\\ metalk8s:control_plane_ip*) echo "local: 172.21.254.2" ;;',
        `  *pillar.get\\ metalk8s:cluster_version*) echo "local: ${options.version ?? '2.4.1'}" ;;`,
        "  *pillar.get\\ metalk8s:endpoints:*) echo \"local: {'ip': '172.21.254.2'}\" ;;",
        `  *'pillar.get metalk8s:endpoints') echo "local: ${ENDPOINTS}" ;;`,
        '  *) echo "local: applied" ;;',
        'esac',
      ].join('\n'),
    ),
    // `ps --label ...container.name=NAME` answers NAME-0123; `snapshot save PATH` writes PATH under ROOT.
    CRICTL: script(
      join(bin, 'crictl'),
      [
        'case "$1" in',
        '  ps) for arg; do case "$arg" in io.kubernetes.container.name=*) echo "${arg#*=}-0123" ;; esac; done ;;',
        '  exec) case "$*" in *"snapshot save"*) for last; do :; done; mkdir -p "$(dirname "$ROOT$last")" && echo snapshot > "$ROOT$last" ;; esac; echo ok ;;',
        'esac',
      ].join('\n'),
    ),
    // mount -o ro -t iso9660 ISO DIR
    MOUNT: script(
      join(bin, 'mount'),
      `exec "${node}" "${join(scripts, 'metalk8s-agent.cjs')}" iso extract "$5" "$6" >/dev/null`,
    ),
    UMOUNT: script(join(bin, 'umount'), 'chmod -R u+w "$1" && find "$1" -mindepth 1 -delete'),
    YUM: script(join(bin, 'yum'), 'true'),
    // A registered RHEL system with RHSM_ENABLED's repositories (default: the three MetalK8s
    // documents); RHSM_REGISTERED=0 makes `status` say it is not registered.
    SUBSCRIPTION_MANAGER: script(
      join(bin, 'subscription-manager'),
      [
        'case "$1" in',
        '  status) [ "${RHSM_REGISTERED:-1}" = 1 ] && echo "Overall Status: Current" || { echo "Overall Status: Unknown"; exit 1; } ;;',
        '  repos) for repo in ${RHSM_ENABLED-rhel-7-server-rpms rhel-7-server-extras-rpms rhel-7-server-optional-rpms}; do',
        '      printf "Repo ID:   %s\\nRepo Name: %s\\nEnabled:   1\\n\\n" "$repo" "$repo"; done ;;',
        'esac',
      ].join('\n'),
    ),
    RPM: script(join(bin, 'rpm'), 'true'),
    SYSTEMCTL: script(join(bin, 'systemctl'), 'true'),
  };
  return {
    root,
    scripts,
    env,
    calls: () => {
      try {
        return readFileSync(join(bin, 'calls.log'), 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
    run: (name, args, extra = {}) => runCli(args, { entry: join(scripts, name), env: { ...env, ...extra } }),
  };
}
