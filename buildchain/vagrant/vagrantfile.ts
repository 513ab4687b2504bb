// A Vagrantfile from a description of its machines: one box, private networks, synced folders
// and provisioners per machine. Values are written as Ruby literals (single-quoted strings,
// scripts as non-interpolating heredocs), so no input can run Ruby code on `vagrant up`.

export interface PrivateNetwork {
  /** Network address and netmask, as Vagrant's DHCP private networks take them. */
  ip: string;
  netmask: string;
  /** Highest address the DHCP server may hand out: what lies above is kept for VIPs. */
  dhcpUpper: string;
}

export type Provisioner =
  | { name: string; type: 'shell'; inline: string }
  | { name: string; type: 'file'; source: string; destination: string };

export interface VagrantMachine {
  name: string;
  primary?: boolean;
  autostart?: boolean;
  memory?: number;
  /** Host directory → guest directory; none means the default /vagrant share is disabled. */
  syncedFolders: [string, string][];
  provisioners: Provisioner[];
}

export interface VagrantfileSpec {
  box: { name: string; version: string };
  /** Settings of every machine on the virtualbox provider. */
  virtualbox: { memory: number; cpus: number };
  networks: PrivateNetwork[];
  machines: VagrantMachine[];
}

function ruby(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function heredoc(text: string, indent: string): string {
  let marker = 'SCRIPT';
  while (text.split('\n').some((line) => line.trim() === marker)) marker += '_';
  return `<<~'${marker}'\n${text
    .trimEnd()
    .split('\n')
    .map((line) => (line ? `${indent}  ${line}` : ''))
    .join('\n')}\n${indent}${marker}`;
}

function machine(spec: VagrantMachine): string[] {
  const options = [spec.primary ? 'primary: true' : '', spec.autostart === false ? 'autostart: false' : ''].filter(
    Boolean,
  );
  const lines = [
    `  config.vm.define ${ruby(spec.name)}${options.length ? `, ${options.join(', ')}` : ''} do |machine|`,
    `    machine.vm.hostname = ${ruby(spec.name)}`,
  ];
  if (spec.memory)
    lines.push("    machine.vm.provider 'virtualbox' do |v|", `      v.memory = ${spec.memory}`, '    end');
  if (spec.syncedFolders.length === 0) lines.push("    machine.vm.synced_folder '.', '/vagrant', disabled: true");
  for (const [host, guest] of spec.syncedFolders)
    lines.push(`    machine.vm.synced_folder ${ruby(host)}, ${ruby(guest)}`);
  for (const step of spec.provisioners) {
    if (step.type === 'file') {
      lines.push(
        `    machine.vm.provision ${ruby(step.name)}, type: 'file', source: ${ruby(step.source)}, destination: ${ruby(step.destination)}`,
      );
    } else {
      lines.push(`    machine.vm.provision ${ruby(step.name)}, type: 'shell', inline: ${heredoc(step.inline, '    ')}`);
    }
  }
  lines.push('  end');
  return lines;
}

export function renderVagrantfile(spec: VagrantfileSpec, header: string): string {
  return [
    '# -*- mode: ruby -*-',
    ...header
      .trimEnd()
      .split('\n')
      .map((line) => `# ${line}`.trimEnd()),
    '# frozen_string_literal: true',
    '',
    "Vagrant.require_version('>= 1.8')",
    '',
    "Vagrant.configure('2') do |config|",
    `  config.vm.box = ${ruby(spec.box.name)}`,
    `  config.vm.box_version = ${ruby(spec.box.version)}`,
    "  config.vm.provider 'virtualbox' do |v|",
    '    v.linked_clone = true',
    `    v.memory = ${spec.virtualbox.memory}`,
    `    v.cpus = ${spec.virtualbox.cpus}`,
    "    v.customize ['modifyvm', :id, '--chipset', 'ich9']",
    '  end',
    ...spec.networks.map(
      (network) =>
        `  config.vm.network 'private_network', type: :dhcp, nic_type: 'virtio', ip: ${ruby(network.ip)}, netmask: ${ruby(network.netmask)}, dhcp_upper: ${ruby(network.dhcpUpper)}`,
    ),
    ...spec.machines.flatMap((spec) => ['', ...machine(spec)]),
    'end',
    '',
  ].join('\n');
}
