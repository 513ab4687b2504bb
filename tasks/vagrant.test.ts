// vagrant_up with a recording VAGRANT_BIN: the exact command lines and their order, the snapshot
// taken once; the generated files checked by real tools: the Vagrantfile parsed by ruby -c and
// then evaluated by Ruby against a recording Vagrant module, its scripts by bash -n, the key
// pair by ssh-keygen, the bootstrap configuration by a YAML parser.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { requireTool, runEngine, tempDir } from '../test/helpers.ts';
import { metalk8sTasks, project } from '../test/project.ts';

/** A vagrant that records its arguments and knows a snapshot once one was saved. */
function fakeVagrant(): { bin: string; calls: () => string[] } {
  const dir = tempDir('mk8s-vagrant-');
  const bin = join(dir, 'vagrant');
  writeFileSync(bin, [
    '#!/bin/sh',
    `echo "$*" >> "${dir}/calls.log"`,
    `if [ "$1 $2" = "snapshot list" ]; then cat "${dir}/snapshots" 2>/dev/null || echo "==> bootstrap: No snapshots have been taken yet!"; fi`,
    `if [ "$1 $2" = "snapshot save" ]; then echo "$5" >> "${dir}/snapshots"; fi`,
    '',
  ].join('\n'));
  chmodSync(bin, 0o755);
  return { bin, calls: () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n') };
}

/** Loads a Vagrantfile with a stand-in Vagrant module that records every call as [path, args, options]. */
const RECORDER = `
require 'json'
class Recorder
  def initialize(path, log)
    @path = path
    @log = log
  end
  def method_missing(name, *args, **options, &block)
    @log << [@path + '.' + name.to_s, args, options]
    child = Recorder.new(@path + '.' + name.to_s, @log)
    block.call(child) if block
    child
  end
  def respond_to_missing?(*) = true
end
module Vagrant
  LOG = []
  def self.require_version(*); end
  def self.configure(version)
    yield Recorder.new('config', LOG)
  end
end
load ARGV[0]
puts JSON.generate(Vagrant::LOG)
`;

describe('vagrant_up', () => {
  it('generates the key pair, bootstrap configuration and Vagrantfile, then runs vagrant as upstream', { timeout: 60_000 }, async () => {
    const vagrant = fakeVagrant();
    const root = project({});
    const env = { VAGRANT_BIN: vagrant.bin, VAGRANT_NODES: '2' };
    const first = await runEngine(root, metalk8sTasks(root, env), ['vagrant_up']);
    expect(first.finished.filter((report) => report.error)).toEqual([]);
    const up = 'up --provision --no-destroy-on-error --parallel --provider virtualbox';
    expect(vagrant.calls()).toEqual([`${up} --no-provision`, 'snapshot list', 'halt bootstrap', 'snapshot save --force bootstrap bootstrap.autosnapshot', up]);

    // The snapshot is taken once; vagrant up runs each time.
    await runEngine(root, metalk8sTasks(root, env), ['vagrant_up']);
    expect(vagrant.calls().slice(5)).toEqual([`${up} --no-provision`, 'snapshot list', up]);

    const key = join(root, '.vagrant/preshared_key_for_k8s_nodes');
    expect(execFileSync(requireTool('ssh-keygen'), ['-l', '-f', `${key}.pub`], { encoding: 'utf8' })).toMatch(/^4096 SHA256:\S+ doit \(RSA\)\n$/);
    expect(parse(readFileSync(join(root, '.vagrant/bootstrap.yaml'), 'utf8'))).toEqual({
      apiVersion: 'metalk8s.scality.com/v1alpha2', kind: 'BootstrapConfiguration',
      networks: { controlPlane: '172.21.254.0/28', workloadPlane: '172.21.254.32/27' },
      ca: { minion: 'bootstrap' }, apiServer: { host: '172.21.254.14', keepalived: { enabled: true } },
      archives: ['/srv/scality/metalk8s-2.4.1-dev'],
    });

    const vagrantfile = join(root, 'Vagrantfile');
    expect(execFileSync(requireTool('ruby'), ['-c', vagrantfile], { encoding: 'utf8' })).toBe('Syntax OK\n');
    const recorder = join(tempDir(), 'recorder.rb');
    writeFileSync(recorder, RECORDER);
    const log = JSON.parse(execFileSync(requireTool('ruby'), [recorder, vagrantfile], { encoding: 'utf8' })) as [string, unknown[], Record<string, unknown>][];
    const calls = (path: string) => log.filter(([name]) => name === path).map(([, args, options]) => [...args, ...(Object.keys(options).length ? [options] : [])]);
    expect(calls('config.vm.box=')).toEqual([['centos/7']]);
    expect(calls('config.vm.define')).toEqual([['bootstrap', { primary: true }], ['node1', { autostart: false }], ['node2', { autostart: false }]]);
    expect(calls('config.vm.network').map((call) => call[1])).toEqual([
      { type: 'dhcp', nic_type: 'virtio', ip: '172.21.254.0', netmask: '255.255.255.240', dhcp_upper: '172.21.254.13' },
      { type: 'dhcp', nic_type: 'virtio', ip: '172.21.254.32', netmask: '255.255.255.224', dhcp_upper: '172.21.254.46' },
    ]);
    expect(calls('config.vm.define.vm.synced_folder')).toEqual([
      ['.', '/vagrant'], [join(root, '_build/root'), '/srv/scality/metalk8s-2.4.1-dev'],
      ['.', '/vagrant', { disabled: true }], ['.', '/vagrant', { disabled: true }],
    ]);
    const provisions = calls('config.vm.define.vm.provision') as [string, { type: string; inline?: string }][];
    expect(provisions.map(([name]) => name)).toEqual([
      'disable-swap', 'import-ssh-private-key', 'bootstrap',
      'copy-ssh-public-key', 'add-ssh-public-key-to-authorized-keys', 'copy-ssh-public-key', 'add-ssh-public-key-to-authorized-keys',
    ]);
    const bootstrap = provisions.find(([name]) => name === 'bootstrap')![1].inline!;
    expect(bootstrap).toContain('cp /vagrant/.vagrant/bootstrap.yaml /etc/metalk8s/bootstrap.yaml\nexec /srv/scality/metalk8s-2.4.1-dev/bootstrap.sh\n');
    // Each shell script parses (bash -n exits non-zero, and execFileSync throws, if one does not).
    for (const [, { inline }] of provisions) if (inline) execFileSync('bash', ['-n', '-c', inline], { stdio: 'pipe' });
  });

  it('fails with the install line when vagrant is missing, and refuses a bad VAGRANT_NODES', async () => {
    const root = project({});
    const missing = await runEngine(root, metalk8sTasks(root, { VAGRANT_BIN: 'vagrant-not-installed' }), ['vagrant_up']);
    const check = missing.finished.find((report) => report.name === 'check_for:vagrant')!;
    expect(check.error).toBe("'vagrant-not-installed' not found (VAGRANT_BIN=vagrant-not-installed); install it with: apt-get install -y vagrant");
    expect(() => metalk8sTasks(root, { VAGRANT_NODES: '12' })).toThrow("environment variable VAGRANT_NODES: VAGRANT_NODES must be a number from 0 to 9, not '12'");
  });
});
