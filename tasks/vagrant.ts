// vagrant_up: a development cluster of the ISO tree, as upstream's buildchain/vagrant.py: the
// pre-shared SSH key pair of the nodes (_vagrantkey), the bootstrap configuration and the
// Vagrantfile (_vagrant_config), `vagrant up --no-provision` then a snapshot of the bootstrap
// VM (_vagrant_snapshot, once), then `vagrant up` with VAGRANT_UP_ARGS; vagrant_restore goes
// back to that snapshot. The Vagrantfile is generated, not kept in git, so that it follows the
// build's version, ISO tree and VAGRANT_NODES.
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildConfig } from './config.ts';
import type { BuildContext } from './context.ts';
import type { TaskSpec } from '../buildchain/engine/task.ts';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { findExecutable, requireExecutable, runTool } from '../buildchain/tools.ts';
import { BuildError } from '../buildchain/errors.ts';
import { renderVagrantfile, type VagrantfileSpec } from '../buildchain/vagrant/vagrantfile.ts';
import { generatedBy } from '../buildchain/generated.ts';

const KEY_NAME = 'preshared_key_for_k8s_nodes';

/** Upstream's networks: a /28 control plane whose last address is the API server VIP, a /27 workload plane whose upper half is for LB VIPs. */
const CONTROL_PLANE = { ip: '172.21.254.0', netmask: '255.255.255.240', dhcpUpper: '172.21.254.13' };
const WORKLOAD_PLANE = { ip: '172.21.254.32', netmask: '255.255.255.224', dhcpUpper: '172.21.254.46' };
const API_SERVER_VIP = '172.21.254.14';

export function vagrantFiles(config: BuildConfig) {
  const dir = join(config.root, '.vagrant');
  return {
    dir,
    key: join(dir, KEY_NAME),
    bootstrapConfig: join(dir, 'bootstrap.yaml'),
    vagrantfile: join(config.root, 'Vagrantfile'),
  };
}

function bootstrapConfiguration(config: BuildConfig, version: string): string {
  return [
    `# ${generatedBy(config.projectName, version, './build.ts _vagrant_config')}`,
    'apiVersion: metalk8s.scality.com/v1alpha2',
    'kind: BootstrapConfiguration',
    'networks:',
    '  controlPlane: 172.21.254.0/28',
    '  workloadPlane: 172.21.254.32/27',
    'ca:',
    '  minion: bootstrap',
    'apiServer:',
    `  host: ${API_SERVER_VIP}`,
    '  keepalived:',
    '    enabled: true',
    'archives:',
    `  - /srv/scality/metalk8s-${version}`,
    '',
  ].join('\n');
}

function vagrantfileSpec(config: BuildConfig, version: string): VagrantfileSpec {
  const release = `/srv/scality/metalk8s-${version}`;
  const nodes = Array.from({ length: config.vagrant.nodes }, (_, index) => ({
    name: `node${index + 1}`,
    autostart: false,
    syncedFolders: [] as [string, string][],
    provisioners: [
      {
        name: 'copy-ssh-public-key',
        type: 'file' as const,
        source: `.vagrant/${KEY_NAME}.pub`,
        destination: `/home/vagrant/.ssh/${KEY_NAME}.pub`,
      },
      {
        name: 'add-ssh-public-key-to-authorized-keys',
        type: 'shell' as const,
        inline: [
          'set -eu -o pipefail',
          `key=$(cat /home/vagrant/.ssh/${KEY_NAME}.pub)`,
          'grep -Fxq "$key" /root/.ssh/authorized_keys 2>/dev/null || { mkdir -p /root/.ssh && echo "$key" >> /root/.ssh/authorized_keys; }',
        ].join('\n'),
      },
    ],
  }));
  return {
    box: { name: 'centos/7', version: '1811.02' },
    virtualbox: { memory: 2048, cpus: 2 },
    networks: [CONTROL_PLANE, WORKLOAD_PLANE],
    machines: [
      {
        name: 'bootstrap',
        primary: true,
        memory: 4096,
        // The project (keys, bootstrap configuration) and the ISO tree, mounted where an ISO would be.
        syncedFolders: [
          ['.', '/vagrant'],
          [config.isoRoot, release],
        ],
        provisioners: [
          { name: 'disable-swap', type: 'shell', inline: 'swapoff -a' },
          {
            name: 'import-ssh-private-key',
            type: 'shell',
            inline: `set -eu\nmkdir -p /etc/metalk8s/pki\ncp /vagrant/.vagrant/${KEY_NAME} /etc/metalk8s/pki/`,
          },
          {
            name: 'bootstrap',
            type: 'shell',
            inline: [
              'set -eu -o pipefail',
              `if ! test -x ${release}/bootstrap.sh; then`,
              `  echo "${release}/bootstrap.sh not found: build the ISO tree first (./build.ts populate_iso)" >&2`,
              '  exit 1',
              'fi',
              'mkdir -p /etc/metalk8s',
              'cp /vagrant/.vagrant/bootstrap.yaml /etc/metalk8s/bootstrap.yaml',
              `exec ${release}/bootstrap.sh`,
            ].join('\n'),
          },
        ],
      },
      ...nodes,
    ],
  };
}

export function vagrantTasks({ config }: BuildContext): TaskSpec[] {
  const files = vagrantFiles(config);
  const vagrant = config.bin.vagrant;
  const upArgs = config.vagrant.upArgs;
  const snapshot = config.vagrant.snapshotName;
  return [
    {
      name: '_vagrantkey',
      doc: 'Generate the SSH key pair the nodes share, in .vagrant.',
      targets: [files.key, `${files.key}.pub`],
      uptodate: [true],
      actions: [
        async (ctx) => {
          await mkdir(files.dir, { recursive: true });
          await runTool(
            requireExecutable('ssh-keygen'),
            ['-q', '-t', 'rsa', '-b', '4096', '-N', '', '-f', files.key, '-C', 'doit'],
            { signal: ctx.signal, what: `generating ${files.key}` },
          );
        },
      ],
      clean: true,
    },
    {
      name: '_vagrant_config',
      doc: 'Write the Vagrantfile and the bootstrap configuration (.vagrant/bootstrap.yaml).',
      // The archive's mount path carries the product's version, read once its source is unpacked.
      task_dep: config.product ? ['_product_source'] : [],
      file_dep: [config.productVersionFile],
      targets: [files.vagrantfile, files.bootstrapConfig],
      uptodate: [config.isoRoot, config.vagrant.nodes],
      actions: [
        async () => {
          const version = config.productVersion().version.full;
          await writeFileAtomic(files.bootstrapConfig, bootstrapConfiguration(config, version));
          await writeFileAtomic(
            files.vagrantfile,
            renderVagrantfile(
              vagrantfileSpec(config, version),
              `Generated by ./build.ts _vagrant_config for MetalK8s ${version}: edit tasks/vagrant.ts, not this file.`,
            ),
          );
        },
      ],
      clean: true,
    },
    {
      name: '_vagrant_up_noprov',
      doc: 'Run `vagrant up` without provisioning.',
      task_dep: ['check_for:vagrant', '_vagrant_config'],
      uptodate: [false],
      actions: [[vagrant, 'up', ...upArgs, '--no-provision']],
    },
    {
      name: '_vagrant_snapshot',
      doc: `Halt the bootstrap VM and snapshot it as ${snapshot}, once.`,
      task_dep: ['_vagrant_up_noprov', 'check_for:vagrant'],
      uptodate: [() => snapshotExists(vagrant, config.root, snapshot)],
      actions: [
        [vagrant, 'halt', 'bootstrap'],
        [vagrant, 'snapshot', 'save', '--force', 'bootstrap', snapshot],
      ],
    },
    {
      name: 'vagrant_up',
      doc: 'Run `vagrant up` (VAGRANT_UP_ARGS) to (re-)provision a development cluster of the ISO tree.',
      file_dep: [files.key],
      task_dep: ['check_for:vagrant', 'populate_iso', '_vagrant_config', '_vagrant_snapshot'],
      uptodate: [false],
      actions: [[vagrant, 'up', ...upArgs]],
      clean: ({ dryRun, log }) => {
        if (dryRun) return log(`vagrant_up: would run ${vagrant} destroy --force`);
        if (!findExecutable(vagrant)) throw new BuildError(`${vagrant} is not installed (VAGRANT_BIN=${vagrant})`);
        log(`vagrant_up: running ${vagrant} destroy --force`);
        execFileSync(vagrant, ['destroy', '--force'], { cwd: config.root, stdio: 'ignore' });
      },
    },
    {
      name: 'vagrant_restore',
      doc: `Restore the bootstrap VM from its snapshot (${snapshot}).`,
      task_dep: ['check_for:vagrant'],
      uptodate: [false],
      actions: [[vagrant, 'snapshot', 'restore', 'bootstrap', snapshot]],
    },
  ];
}

function snapshotExists(vagrant: string, cwd: string, name: string): boolean {
  try {
    return execFileSync(vagrant, ['snapshot', 'list'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .includes(name);
  } catch {
    return false; // no VM yet, or no snapshot support: take it
  }
}
