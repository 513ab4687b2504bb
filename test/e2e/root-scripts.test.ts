// The shell scripts of the ISO root that drive Salt (bootstrap.sh, backup.sh, restore.sh,
// upgrade.sh, downgrade.sh), run as an operator runs them but on a temporary root (ROOT) with the
// system commands replaced by recording ones (test/node-fixture.ts): their own logic (options,
// OS checks, yum repositories of the ISO, archives, version checks) and the exact Salt command
// lines they hand over with.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireTool, tempDir } from '../helpers.ts';
import { fakeNode, type FakeNode } from '../node-fixture.ts';
import { buildTestRpms, createRepo } from '../rpm-fixtures.ts';

const CA_FILES = [
  'ca.key',
  'ca.crt',
  'front-proxy-ca.key',
  'front-proxy-ca.crt',
  'etcd/ca.key',
  'etcd/ca.crt',
  'sa.key',
  'sa.pub',
];

function write(file: string, text: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
}

/** The ISO root beside the scripts (product.txt, two yum repositories, one with its key), and a CentOS 7 host. */
async function bootstrapNode(): Promise<FakeNode> {
  const node = await fakeNode({ isoVersion: '2.4.1' });
  write(join(node.scripts, 'product.txt'), 'NAME=MetalK8s\nVERSION=2.4.1\n');
  write(join(node.scripts, 'packages/redhat/metalk8s-base-el7/repodata/repomd.xml'), '<repomd/>\n');
  write(join(node.scripts, 'packages/redhat/metalk8s-saltstack-el7/repodata/repomd.xml'), '<repomd/>\n');
  write(join(node.scripts, 'packages/redhat/metalk8s-saltstack-el7/RPM-GPG-KEY-saltstack'), 'key\n');
  mkdirSync(join(node.scripts, 'salt'));
  write(
    join(node.root, 'etc/os-release'),
    'NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n',
  );
  write(
    join(node.root, 'etc/metalk8s/bootstrap.yaml'),
    'apiVersion: metalk8s.scality.com/v1alpha2\nkind: BootstrapConfiguration\n',
  );
  for (const file of CA_FILES) write(join(node.root, 'etc/kubernetes/pki', file), `${file}\n`);
  return node;
}

const SALTENV = 'saltenv=metalk8s-2.4.1';
const MASTER = 'crictl exec -i salt-master-0123 salt-run --state-output=mixed';
const BOOTSTRAP_CALLS = (scripts: string) => [
  'yum clean all',
  'systemctl disable --now salt-minion.service',
  'yum install --assumeyes salt-minion genisoimage',
  `salt-call --file-root=${scripts}/salt --local --retcode-passthrough saltutil.sync_all saltenv=base`,
  `salt-call --file-root=${scripts}/salt --local --retcode-passthrough state.sls metalk8s.salt.minion.local pillar={'metalk8s': {'archives': '${scripts}'}} saltenv=base`,
  `salt-call --local --state-output=mixed --retcode-passthrough state.sls metalk8s.node.grains ${SALTENV} pillarenv=metalk8s-2.4.1`,
  'salt-call --local grains.get metalk8s:control_plane_ip --out txt',
  'salt-call --local --state-output=mixed --retcode-passthrough state.sls ["metalk8s.kubernetes.ca.kubernetes.installed", "metalk8s.roles.bootstrap", "metalk8s.roles.minion"] ' +
    `${SALTENV} pillarenv=metalk8s-2.4.1 pillar={'repo': {'local_mode': True}, 'metalk8s': {'endpoints': {'repositories': {'ip': '172.21.254.2', 'ports': {'http': 8080}}, 'salt-master': {'ip': '172.21.254.2'}}}}`,
  ...['utils', 'pillar', 'runners', 'modules'].flatMap((kind) => [
    'crictl ps -q --label io.kubernetes.pod.namespace=kube-system --label io.kubernetes.container.name=salt-master --state Running',
    `${MASTER} saltutil.sync_${kind} ${SALTENV}`,
  ]),
  'salt-call --local grains.get id --out txt',
  'crictl ps -q --label io.kubernetes.pod.namespace=kube-system --label io.kubernetes.container.name=salt-master --state Running',
  `${MASTER} state.orchestrate metalk8s.orchestrate.bootstrap.accept-minion ${SALTENV} pillar={'bootstrap_id': 'bootstrap'}`,
  `salt-call --state-output=mixed saltutil.sync_all refresh=True ${SALTENV}`,
  'crictl ps -q --label io.kubernetes.pod.namespace=kube-system --label io.kubernetes.container.name=salt-master --state Running',
  `${MASTER} state.orchestrate metalk8s.orchestrate.bootstrap ${SALTENV} pillar={'bootstrap_id': 'bootstrap'}`,
  'salt-call mine.update',
  // backup.sh
  'crictl ps -q --label io.kubernetes.pod.namespace=kube-system --label io.kubernetes.container.name=etcd --state Running',
  'crictl exec -i etcd-0123 env ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cert /etc/kubernetes/pki/etcd/salt-master-etcd-client.crt ' +
    '--key /etc/kubernetes/pki/etcd/salt-master-etcd-client.key --cacert /etc/kubernetes/pki/etcd/ca.crt snapshot save /var/lib/etcd/metalk8s-backup.db',
];

function backups(root: string): string[] {
  const dir = join(root, 'var/lib/metalk8s');
  return existsSync(dir) ? readdirSync(dir).filter((name) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(name)) : [];
}

describe('bootstrap.sh', () => {
  it(
    'configures the ISO repositories, installs the minion, hands over to Salt and takes a backup',
    { timeout: 60_000 },
    async () => {
      const node = await bootstrapNode();
      const result = await node.run('bootstrap.sh', [], { ROOT: node.root });
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toMatch(/^> Checking the OS\.\.\. done \[\d+s\]\n/);
      expect(readFileSync(join(node.root, 'etc/yum.repos.d/metalk8s-base.repo'), 'utf8')).toBe(
        `# Generated by MetalK8s 2.4.1 (bootstrap.sh); changes made here are lost when it is generated again\n[metalk8s-base]\nname=MetalK8s 2.4.1 metalk8s-base-el7\nbaseurl=file://${node.scripts}/packages/redhat/metalk8s-base-el7\nenabled=1\ngpgcheck=0\n`,
      );
      expect(readFileSync(join(node.root, 'etc/yum.repos.d/metalk8s-saltstack.repo'), 'utf8')).toBe(
        `# Generated by MetalK8s 2.4.1 (bootstrap.sh); changes made here are lost when it is generated again\n[metalk8s-saltstack]\nname=MetalK8s 2.4.1 metalk8s-saltstack-el7\nbaseurl=file://${node.scripts}/packages/redhat/metalk8s-saltstack-el7\nenabled=1\ngpgcheck=1\n` +
          `gpgkey=file://${node.scripts}/packages/redhat/metalk8s-saltstack-el7/RPM-GPG-KEY-saltstack\n`,
      );
      expect(node.calls()).toEqual(BOOTSTRAP_CALLS(node.scripts));
      expect(backups(node.root)).toHaveLength(1);
      expect(readFileSync(join(node.root, 'var/log/metalk8s/bootstrap.log'), 'utf8')).toContain(
        '--- MetalK8s bootstrap 2.4.1 started on ',
      );
    },
  );

  it(
    "installs the minion with the node's own OS repositories enabled, which hold what it needs (real dnf)",
    { timeout: 180_000 },
    async () => {
      const node = await bootstrapNode();
      // The ISO's repositories, real this time: salt-minion needs python-base, which the ISO does
      // not carry; a stand-in for the node's CentOS base repository does.
      const isoRepos = join(node.scripts, 'packages/redhat');
      execFileSync('rm', ['-r', isoRepos]);
      const work = tempDir('mk8s-rpmbuild-');
      const osRepo = join(tempDir('mk8s-os-repo-'), 'os');
      await Promise.all([
        buildTestRpms(join(work, 'saltstack'), join(isoRepos, 'metalk8s-saltstack-el7'), [
          { name: 'salt-minion', version: '2018.3.4', arch: 'noarch', requires: ['python-base'] },
        ]),
        buildTestRpms(join(work, 'base'), join(isoRepos, 'metalk8s-base-el7'), [
          { name: 'genisoimage', version: '1.1.11', arch: 'noarch' },
        ]),
        buildTestRpms(join(work, 'os'), osRepo, [{ name: 'python-base', version: '2.7.5', arch: 'noarch' }]),
      ]);
      await Promise.all([
        createRepo(join(isoRepos, 'metalk8s-saltstack-el7')),
        createRepo(join(isoRepos, 'metalk8s-base-el7')),
        createRepo(osRepo),
      ]);
      write(
        join(node.root, 'etc/yum.repos.d/CentOS-Base.repo'),
        `[base]\nname=CentOS-7 - Base (stand-in)\nbaseurl=file://${osRepo}\nenabled=1\ngpgcheck=0\n`,
      );
      // yum on the node: dnf on the node's root, with its repositories.
      const yum = join(tempDir('mk8s-yum-'), 'yum');
      writeFileSync(
        yum,
        [
          '#!/bin/sh',
          `exec ${requireTool('dnf')} --installroot="$ROOT" --setopt=reposdir="$ROOT/etc/yum.repos.d" --setopt=cachedir="$ROOT/var/cache/dnf" \\`,
          '  --releasever=7 --disableplugin=\'*\' --setopt=install_weak_deps=False --quiet "$@"',
          '',
        ].join('\n'),
        { mode: 0o755 },
      );

      // Only the ISO's repositories, as bootstrap.sh did before: python-base cannot be found.
      write(
        join(node.root, 'etc/yum.repos.d/metalk8s-saltstack.repo'),
        `[metalk8s-saltstack]\nname=x\nbaseurl=file://${isoRepos}/metalk8s-saltstack-el7\nenabled=1\ngpgcheck=0\n`,
      );
      const isoOnly = spawnSync(
        yum,
        ['install', '--assumeyes', '--disablerepo=*', '--enablerepo=metalk8s-*', 'salt-minion'],
        { encoding: 'utf8', env: { ...process.env, ROOT: node.root } },
      );
      expect(isoOnly.status).not.toBe(0);
      expect(`${isoOnly.stdout}${isoOnly.stderr}`).toContain('python-base');

      const result = await node.run('bootstrap.sh', [], { ROOT: node.root, YUM: yum });
      expect([result.code, result.stderr]).toEqual([0, '']);
      const installed = execFileSync(
        requireTool('rpm'),
        ['--root', node.root, '-q', 'salt-minion', 'genisoimage', 'python-base', '--qf', '%{NAME}\\n'],
        { encoding: 'utf8' },
      );
      expect(installed.split('\n').filter(Boolean).sort()).toEqual(['genisoimage', 'python-base', 'salt-minion']);
    },
  );

  it(
    'refuses another OS, a missing bootstrap.yaml and unknown options, before changing anything',
    { timeout: 60_000 },
    async () => {
      const node = await bootstrapNode();
      write(join(node.root, 'etc/os-release'), 'ID=ubuntu\nVERSION_ID="18.04"\n');
      const ubuntu = await node.run('bootstrap.sh', [], { ROOT: node.root });
      expect(ubuntu.code).toBe(1);
      // The step's elapsed seconds come from `date +%s`: 0 or 1 for the same run, so not asserted.
      expect(ubuntu.stdout).toMatch(/^> Checking the OS\.\.\. fail \[\d+s\]\n$/);
      expect(ubuntu.stderr).toContain(
        'bootstrap.sh: ubuntu 18.04 is not supported: MetalK8s 2.4.1 runs on CentOS 7 and RHEL 7\n<< END >>',
      );

      write(join(node.root, 'etc/os-release'), 'ID="rhel"\nVERSION_ID="7.9"\n');
      const noYum = await node.run('bootstrap.sh', [], { ROOT: node.root, YUM: 'yum-not-installed' });
      expect(noYum.code).toBe(1);
      expect(noYum.stderr).toContain('bootstrap.sh: yum-not-installed not found\n<< END >>');
      execFileSync('rm', [join(node.root, 'etc/metalk8s/bootstrap.yaml')]);
      const unconfigured = await node.run('bootstrap.sh', ['--verbose'], { ROOT: node.root });
      expect(unconfigured.code).toBe(1);
      expect(unconfigured.stdout).toContain(
        'bootstrap.sh: /etc/metalk8s/bootstrap.yaml not found: write the BootstrapConfiguration first',
      );
      expect(existsSync(join(node.root, 'etc/yum.repos.d'))).toBe(false);
      expect(node.calls()).toEqual([]);

      const usage = await node.run('bootstrap.sh', ['--bogus'], { ROOT: node.root });
      expect([usage.code, usage.stderr]).toEqual([
        1,
        'Usage: bootstrap.sh [-v|--verbose] [--log-file FILE]\nbootstrap.sh: unknown option --bogus\n',
      ]);
    },
  );
});

describe('backup.sh and restore.sh', () => {
  it(
    'backs up the configuration, CAs and etcd into one archive, and restores them on a fresh node',
    { timeout: 60_000 },
    async () => {
      const node = await bootstrapNode();
      const backup = await node.run('backup.sh', ['--backup-file', '/var/backups/metalk8s.tar.gz'], {
        ROOT: node.root,
      });
      expect([backup.code, backup.stderr]).toEqual([0, '']);
      const archive = join(node.root, 'var/backups/metalk8s.tar.gz');
      const entries = execFileSync(requireTool('bsdtar'), ['-tzf', archive], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .sort();
      expect(entries).toEqual(
        expect.arrayContaining([
          './etcd_snapshot',
          './metalk8s/bootstrap.yaml',
          './pki/ca.key',
          './pki/etcd/ca.key',
          './pki/sa.pub',
        ]),
      );
      expect(existsSync(join(node.root, 'var/lib/etcd/metalk8s-backup.db'))).toBe(false); // moved into the archive

      // A fresh machine: CentOS 7 and the ISO, no configuration.
      const fresh = await bootstrapNode();
      execFileSync('rm', ['-r', join(fresh.root, 'etc/metalk8s'), join(fresh.root, 'etc/kubernetes')]);
      const restored = await fresh.run('restore.sh', ['-b', archive], { ROOT: fresh.root });
      expect([restored.code, restored.stderr]).toEqual([0, '']);
      expect(restored.stdout).toContain('> Deploying the bootstrap node with them\n> Checking the OS... done');
      expect(readFileSync(join(fresh.root, 'etc/metalk8s/bootstrap.yaml'), 'utf8')).toContain(
        'kind: BootstrapConfiguration',
      );
      expect(readFileSync(join(fresh.root, 'etc/kubernetes/pki/etcd/ca.key'), 'utf8')).toBe('etcd/ca.key\n');
      expect(fresh.calls()).toEqual(BOOTSTRAP_CALLS(fresh.scripts));
    },
  );

  it(
    'refuses an archive with an entry outside its tree, and one that is not a backup',
    { timeout: 60_000 },
    async () => {
      const node = await bootstrapNode();
      const dir = tempDir();
      write(join(dir, 'tree/evil'), 'x\n');
      const evil = join(dir, 'evil.tar.gz');
      execFileSync(requireTool('bsdtar'), [
        '-czf',
        evil,
        '-C',
        join(dir, 'tree'),
        '-s',
        ',^evil$,../../etc/evil,',
        'evil',
      ]);
      const refused = await node.run('restore.sh', ['--backup-file', evil], { ROOT: node.root });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`restore.sh: ${evil}: entry '../../etc/evil' points outside the archive`);

      const empty = join(dir, 'empty.tar.gz');
      execFileSync(requireTool('bsdtar'), ['-czf', empty, '-C', join(dir, 'tree'), 'evil']);
      const notBackup = await node.run('restore.sh', ['--backup-file', empty], { ROOT: node.root });
      expect(notBackup.stderr).toContain(
        `restore.sh: ${empty}: metalk8s/bootstrap.yaml is missing, not a backup.sh archive`,
      );
      expect(node.calls()).toEqual([]);
      expect(readFileSync(join(node.root, 'etc/kubernetes/pki/ca.key'), 'utf8')).toBe('ca.key\n');
    },
  );
});

describe('upgrade.sh and downgrade.sh', () => {
  const master = 'crictl exec -i salt-master-0123 salt-run';
  const ps =
    'crictl ps -q --label io.kubernetes.pod.namespace=kube-system --label io.kubernetes.container.name=salt-master --state Running';
  const nodeVersion = 'salt-call slsutil.renderer string={{ pillar.metalk8s.nodes[grains.id].version }} --out txt';
  const annotation = (version: string, test: 'True' | 'False') =>
    `${master} state.orchestrate_single metalk8s_kubernetes.namespace_annotation_present kube-system ` +
    `kubeconfig=/etc/kubernetes/admin.conf context=kubernetes-admin@kubernetes annotation_key=metalk8s.scality.com/cluster-version annotation_value=${version} test=${test}`;
  const precheck = (kind: string, saltenv: string, version: string) =>
    `${master} state.orchestrate metalk8s.orchestrate.${kind}.precheck saltenv=metalk8s-${saltenv} pillar={'metalk8s': {'cluster_version': '${version}'}}`;
  const bootstrapRole = (version: string) => [
    'salt-call pillar.get metalk8s:endpoints:salt-master --out txt',
    'salt-call pillar.get metalk8s:endpoints:repositories --out txt',
    `salt-call --local --retcode-passthrough state.sls metalk8s.roles.bootstrap saltenv=metalk8s-${version} pillar={'metalk8s': {'endpoints': {'salt-master': {'ip': '172.21.254.2'}, 'repositories': {'ip': '172.21.254.2'}}}}`,
  ];
  const syncMaster = (version: string) => [
    ps,
    `${master} saltutil.sync_all saltenv=metalk8s-${version}`,
    ps,
    `${master} metalk8s_saltutil.sync_auth saltenv=metalk8s-${version}`,
    ps,
    `${master} saltutil.sync_roster saltenv=metalk8s-${version}`,
  ];

  async function cluster(): Promise<FakeNode> {
    const node = await fakeNode({ version: '2.4.1' });
    for (const version of ['2.4.1', '2.5.0', '2.4.1-dev'])
      write(join(node.root, `srv/scality/metalk8s-${version}/product.txt`), `NAME=MetalK8s\nVERSION=${version}\n`);
    return node;
  }

  // Each of upstream 2.4.1's options, with what it must change in what the script does.
  const CASES: { script: string; args: string[]; calls: string[]; stdout?: RegExp; log?: string }[] = [
    {
      script: 'upgrade.sh',
      args: ['--destination-version', '2.5.0'],
      calls: [
        nodeVersion,
        ps,
        annotation('2.5.0', 'False'),
        ps,
        precheck('upgrade', '2.5.0', '2.5.0'),
        'salt-call saltutil.sync_all saltenv=metalk8s-2.5.0',
        ...bootstrapRole('2.5.0'),
        ...syncMaster('2.5.0'),
        ps,
        `${master} state.orchestrate metalk8s.orchestrate.upgrade saltenv=metalk8s-2.5.0`,
      ],
    },
    {
      // Without a destination: the cluster's recorded version, nothing recorded anew.
      script: 'upgrade.sh',
      args: [],
      calls: [
        nodeVersion,
        'salt-call pillar.get metalk8s:cluster_version --out txt',
        ps,
        precheck('upgrade', '2.4.1', '2.4.1'),
        'salt-call saltutil.sync_all saltenv=metalk8s-2.4.1',
        ...bootstrapRole('2.4.1'),
        ...syncMaster('2.4.1'),
        ps,
        `${master} state.orchestrate metalk8s.orchestrate.upgrade saltenv=metalk8s-2.4.1`,
      ],
      stdout: /> Destination: the cluster version, 2\.4\.1\n/,
    },
    {
      script: 'upgrade.sh',
      args: ['--destination-version', '2.5.0', '--dry-run'],
      calls: [nodeVersion, ps, annotation('2.5.0', 'True'), ps, precheck('upgrade', '2.5.0', '2.5.0')],
      stdout: /Dry run: stopping before any change/,
    },
    {
      script: 'upgrade.sh',
      args: ['--destination-version', '2.5.0', '-d'],
      calls: [nodeVersion, ps, annotation('2.5.0', 'True'), ps, precheck('upgrade', '2.5.0', '2.5.0')],
    },
    {
      script: 'upgrade.sh',
      args: ['-d', '-v'],
      calls: [
        nodeVersion,
        'salt-call pillar.get metalk8s:cluster_version --out txt',
        ps,
        precheck('upgrade', '2.4.1', '2.4.1'),
      ],
      stdout: /^> Running the upgrade prechecks\.\.\.\nok\n/m,
    },
    {
      script: 'upgrade.sh',
      args: ['-d', '--verbose', '--log-file', '/var/log/mine.log'],
      calls: [
        nodeVersion,
        'salt-call pillar.get metalk8s:cluster_version --out txt',
        ps,
        precheck('upgrade', '2.4.1', '2.4.1'),
      ],
      log: '/var/log/mine.log',
    },
    {
      script: 'upgrade.sh',
      args: ['-d', '-l', '/var/log/other.log'],
      calls: [
        nodeVersion,
        'salt-call pillar.get metalk8s:cluster_version --out txt',
        ps,
        precheck('upgrade', '2.4.1', '2.4.1'),
      ],
      log: '/var/log/other.log',
    },
    {
      // Prechecks and orchestrate with this node's (newer) states; the bootstrap node last.
      script: 'downgrade.sh',
      args: ['--destination-version', '2.4.1-dev'],
      calls: [
        nodeVersion,
        ps,
        annotation('2.4.1-dev', 'False'),
        ps,
        precheck('downgrade', '2.4.1', '2.4.1-dev'),
        ps,
        `${master} state.orchestrate metalk8s.orchestrate.downgrade saltenv=metalk8s-2.4.1`,
        ...bootstrapRole('2.4.1-dev'),
        ...syncMaster('2.4.1-dev'),
        'salt-call grains.get id --out txt',
        ps,
        `${master} salt.cmd state.single metalk8s_kubernetes.node_label_present metalk8s.scality.com/version node=bootstrap value=2.4.1-dev kubeconfig=/etc/kubernetes/admin.conf`,
        ps,
        `${master} state.sls metalk8s.orchestrate.deploy_node saltenv=metalk8s-2.4.1 pillar={'orchestrate': {'node_name': 'bootstrap'}}`,
      ],
    },
    {
      script: 'downgrade.sh',
      args: ['--destination-version', '2.4.1-dev', '--dry-run', '-v', '-l', '/var/log/down.log'],
      calls: [nodeVersion, ps, annotation('2.4.1-dev', 'True'), ps, precheck('downgrade', '2.4.1', '2.4.1-dev')],
      log: '/var/log/down.log',
    },
  ];

  it.each(CASES)(
    '$script $args: accepted and acted on',
    { timeout: 60_000 },
    async ({ script, args, calls, stdout, log }) => {
      const node = await cluster();
      const result = await node.run(script, args, { ROOT: node.root });
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(node.calls()).toEqual(calls);
      if (stdout) expect(result.stdout).toMatch(stdout);
      const direction = script.replace('.sh', '');
      expect(readFileSync(join(node.root, log ?? `var/log/metalk8s/${direction}.log`), 'utf8')).toContain(
        `--- MetalK8s ${direction}`,
      );
    },
  );

  it(
    'print their usage, and refuse a missing ISO, the wrong direction and unknown options before any change',
    { timeout: 60_000 },
    async () => {
      const node = await cluster();
      const env = { ROOT: node.root };
      for (const script of ['upgrade.sh', 'downgrade.sh']) {
        const help = await node.run(script, ['-h'], env);
        expect([help.code, help.stdout]).toEqual([
          0,
          `Usage: ${script} [--destination-version VERSION] [-d|--dry-run] [-v|--verbose] [-l|--log-file FILE]\n`,
        ]);
        expect((await node.run(script, ['--help'], env)).stdout).toBe(help.stdout);
        expect((await node.run(script, ['--bogus'], env)).stderr).toBe(
          `${script}: unknown option --bogus (see ${script} --help)\n`,
        );
      }
      const missing = await node.run('upgrade.sh', ['--destination-version', '2.6.0'], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(
        'upgrade.sh: /srv/scality/metalk8s-2.6.0 is not available: add the MetalK8s 2.6.0 ISO first (iso-manager.sh -a ISO)',
      );
      expect((await node.run('downgrade.sh', ['--destination-version', '2.5.0'], env)).stderr).toContain(
        "downgrade.sh: 2.5.0 is newer than this node's 2.4.1: use upgrade.sh",
      );
      // A prerelease sorts before its release: 2.4.1-dev is older than 2.4.1.
      expect((await node.run('upgrade.sh', ['--destination-version', '2.4.1-dev'], env)).stderr).toContain(
        "upgrade.sh: 2.4.1-dev is older than this node's 2.4.1: use downgrade.sh",
      );
      // Nothing was recorded nor orchestrated: only the version look-ups ran.
      expect(node.calls().filter((call) => !call.startsWith('salt-call slsutil.renderer'))).toEqual([]);
    },
  );
});
