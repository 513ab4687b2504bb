// Every option of upstream 2.4.1's node scripts (iso-manager.sh, solution-manager.sh,
// bootstrap.sh, backup.sh, restore.sh; upgrade.sh and downgrade.sh in root-scripts.test.ts), each
// passed in a table, checked accepted and acted on: the log file it names is written, verbose mode
// shows the commands' output, a dry run changes nothing, the archive or backup it names is used.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers.ts';
import { exampleSolutionSource } from '../example-solution.ts';
import { fakeNode, type FakeNode } from '../node-fixture.ts';
import { BACKUP_CALLS, RESTORE_CALLS, VERSIONS_JSON } from '../script-calls.ts';

// The node's own archive listed, as bootstrap.sh leaves it: Salt configures what is listed.
const BOOTSTRAP =
  'apiVersion: metalk8s.scality.com/v1alpha2\nkind: BootstrapConfiguration\narchives:\n  - /srv/scality/metalk8s-2.4.1\n';

/** A node whose bootstrap.yaml exists, with an unpacked MetalK8s 2.5.0 archive beside it and a CentOS 7 root. */
async function node(): Promise<FakeNode & { archive: string }> {
  const base = await fakeNode({ version: '2.4.1', isoVersion: '2.4.1' });
  const write = (path: string, text: string): void => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  };
  write(join(base.root, 'etc/metalk8s/bootstrap.yaml'), BOOTSTRAP);
  write(join(base.root, 'etc/os-release'), 'ID="centos"\nVERSION_ID="7"\n');
  write(join(base.scripts, 'product.txt'), 'NAME=MetalK8s\nVERSION=2.4.1\n');
  write(join(base.root, 'srv/scality/metalk8s-2.4.1/product.txt'), 'NAME=MetalK8s\nVERSION=2.4.1\n');
  write(join(base.scripts, 'packages/redhat/metalk8s-base-el7/repodata/repomd.xml'), '<repomd/>\n');
  write(join(base.scripts, 'salt/metalk8s/versions.json'), VERSIONS_JSON);
  for (const file of [
    'ca.key',
    'ca.crt',
    'front-proxy-ca.key',
    'front-proxy-ca.crt',
    'etcd/ca.key',
    'etcd/ca.crt',
    'sa.key',
    'sa.pub',
  ]) {
    write(join(base.root, 'etc/kubernetes/pki', file), `${file}\n`);
  }
  const archive = join(tempDir('mk8s-unpacked-'), 'metalk8s-2.5.0');
  write(join(archive, 'product.txt'), 'NAME=MetalK8s\nVERSION=2.5.0\n');
  return { ...base, archive };
}

async function exampleSolution(): Promise<string> {
  const iso = join(tempDir('mk8s-solution-'), 'example-solution-1.0.0.iso');
  const built = await runCli(['solution', 'build', await exampleSolutionSource(), '-o', iso], { entry: 'toolkit.ts' });
  expect([built.code, built.stderr]).toEqual([0, '']);
  return iso;
}

type Node = Awaited<ReturnType<typeof node>>;

interface Case {
  script: string;
  /** `ARCHIVE`, `SOLUTION`, `BACKUP` (made by backup.sh first) and `LOG` are replaced by the node's paths. */
  args: string[];
  /** What the options must have done. */
  check: (node: Node, result: { stdout: string; stderr: string }, log: string) => void;
}

const logged = (node: Node, log: string): string =>
  readFileSync(log.startsWith(node.root) ? log : join(node.root, log), 'utf8');

const CASES: Case[] = [
  {
    script: 'iso-manager.sh',
    args: ['-a', 'ARCHIVE', '-l', 'LOG', '--no-salt'],
    check: (n, _r, log) => {
      expect(readFileSync(join(n.root, 'etc/metalk8s/bootstrap.yaml'), 'utf8')).toContain(`  - ${n.archive}\n`);
      expect(readFileSync(log, 'utf8')).toContain('--- MetalK8s ISO manager started on ');
    },
  },
  {
    script: 'iso-manager.sh',
    args: ['--archive', 'ARCHIVE', '--log-file', 'LOG', '--verbose'],
    check: (n, r, log) => {
      expect(r.stdout).toContain('local: applied'); // Salt's own output, shown in verbose mode
      expect(readFileSync(log, 'utf8')).toContain('local: applied');
      expect(readFileSync(join(n.root, 'etc/metalk8s/bootstrap.yaml'), 'utf8')).toContain(n.archive);
    },
  },
  {
    script: 'iso-manager.sh',
    args: ['-a', 'ARCHIVE', '-d', '-v'],
    check: (n, r) => {
      expect(r.stdout).toContain(`[dry run] /etc/metalk8s/bootstrap.yaml: add ${n.archive}`);
      expect(readFileSync(join(n.root, 'etc/metalk8s/bootstrap.yaml'), 'utf8')).toBe(BOOTSTRAP);
      expect(n.calls().at(-1)).toBe(
        'salt-call state.sls metalk8s.archives saltenv=metalk8s-2.4.1 test=True --retcode-passthrough',
      );
    },
  },
  {
    script: 'iso-manager.sh',
    args: ['-a', 'ARCHIVE', '--dry-run', '--no-salt'],
    check: (n, r) => {
      expect(r.stdout).toContain('[dry run]');
      expect(readFileSync(join(n.root, 'etc/metalk8s/bootstrap.yaml'), 'utf8')).toBe(BOOTSTRAP);
    },
  },
  {
    script: 'solution-manager.sh',
    args: ['-a', 'SOLUTION', '--dry-run', '-v', '-l', 'LOG', '--no-salt'],
    check: (n, r, log) => {
      expect(r.stdout).toContain('[dry run]');
      expect(existsSync(join(n.root, 'etc/metalk8s/solutions.yaml'))).toBe(false);
      expect(readFileSync(log, 'utf8')).toContain('--- MetalK8s solution manager started on ');
    },
  },
  {
    script: 'solution-manager.sh',
    args: ['--add', 'SOLUTION', '--verbose', '--log-file', 'LOG', '--dry-run', '--no-salt'],
    check: (_n, r, log) => {
      expect(r.stdout).toContain('Example 1.0.0, valid');
      expect(readFileSync(log, 'utf8')).toContain('Example 1.0.0, valid');
    },
  },
  {
    script: 'solution-manager.sh',
    args: ['-d', 'SOLUTION', '--dry-run', '--no-salt'],
    check: (_n, r) => expect(r.stdout).toContain('--- MetalK8s solution manager started on '),
  },
  {
    script: 'solution-manager.sh',
    args: ['--del', 'SOLUTION', '--dry-run', '--no-salt'],
    check: (_n, r) => expect(r.stdout).toContain('--- MetalK8s solution manager started on '),
  },
  {
    script: 'bootstrap.sh',
    args: ['-v', '--log-file', '/var/log/boot.log'],
    check: (n, r) => {
      expect(r.stdout).toContain('> Installing the Salt minion...\n'); // verbose: no inline "done [Ns]"
      expect(logged(n, '/var/log/boot.log')).toContain('--- MetalK8s bootstrap 2.4.1 started on ');
    },
  },
  {
    script: 'bootstrap.sh',
    args: ['--verbose'],
    check: (n) =>
      expect(logged(n, '/var/log/metalk8s/bootstrap.log')).toContain('--- MetalK8s bootstrap 2.4.1 started on '),
  },
  {
    script: 'backup.sh',
    args: ['-b', '/var/backups/one.tar.gz', '-v', '-l', '/var/log/b1.log'],
    check: (n, r) => {
      expect(existsSync(join(n.root, 'var/backups/one.tar.gz'))).toBe(true);
      expect(r.stdout).toMatch(/^> [^\n]*\.\.\.\n/m);
      expect(logged(n, '/var/log/b1.log')).toContain('--- MetalK8s backup');
    },
  },
  {
    script: 'backup.sh',
    args: ['--backup-file', '/var/backups/two.tar.gz', '--verbose', '--log-file', '/var/log/b2.log'],
    check: (n) => {
      expect(existsSync(join(n.root, 'var/backups/two.tar.gz'))).toBe(true);
      expect(logged(n, '/var/log/b2.log')).toContain('--- MetalK8s backup');
    },
  },
  {
    script: 'restore.sh',
    args: ['-b', 'BACKUP', '-v', '-l', '/var/log/r1.log'],
    check: (n, r) => {
      expect(r.stdout).toContain('> Restoring the MetalK8s configuration...\n'); // verbose: no inline "done [Ns]"
      expect(logged(n, '/var/log/r1.log')).toContain('--- MetalK8s restore 2.4.1 started on ');
      expect(n.calls()).toEqual([...BACKUP_CALLS, ...RESTORE_CALLS(n.scripts, [])]);
    },
  },
  {
    script: 'restore.sh',
    args: ['--backup-file', 'BACKUP', '--verbose', '--log-file', '/var/log/r2.log'],
    check: (n) => {
      expect(logged(n, '/var/log/r2.log')).toContain('no other node in the cluster: none to reconfigure');
      expect(n.calls()).toEqual([...BACKUP_CALLS, ...RESTORE_CALLS(n.scripts, [])]);
    },
  },
  {
    script: 'restore.sh',
    args: ['-b', 'BACKUP'],
    check: (n, r) => {
      expect(r.stdout).toMatch(/^> Reading \S+\.\.\. done \[\d+s\]\n/);
      expect(logged(n, '/var/log/metalk8s/restore.log')).toContain('--- MetalK8s restore 2.4.1 started on ');
    },
  },
];

describe("the node scripts' options, as upstream 2.4.1 names them", () => {
  it.each(CASES)('$script $args', { timeout: 120_000 }, async ({ script, args, check }) => {
    const n = await node();
    const log = join(tempDir('mk8s-logs-'), 'script.log');
    const solution = args.includes('SOLUTION') ? await exampleSolution() : '';
    const backup = join(n.root, 'var/backups/for-restore.tar.gz');
    if (args.includes('BACKUP'))
      expect((await n.run('backup.sh', ['-b', '/var/backups/for-restore.tar.gz'], { ROOT: n.root })).code).toBe(0);
    const placeholders: Record<string, string> = { ARCHIVE: n.archive, SOLUTION: solution, BACKUP: backup, LOG: log };
    const resolved = args.map((arg) => placeholders[arg] ?? arg);
    const agentScript = script === 'iso-manager.sh' || script === 'solution-manager.sh';
    const result = await n.run(script, agentScript ? [...resolved, '--root', n.root] : resolved, { ROOT: n.root });
    expect([result.code, result.stderr]).toEqual([0, '']);
    check(n, result, log);
  });

  it.each([
    'iso-manager.sh',
    'solution-manager.sh',
    'bootstrap.sh',
    'backup.sh',
    'restore.sh',
    'upgrade.sh',
    'downgrade.sh',
  ])('%s -h and --help print the usage', async (script) => {
    const n = await node();
    for (const flag of ['-h', '--help']) {
      const result = await n.run(script, [flag], { ROOT: n.root });
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toMatch(/Usage: /);
    }
  });
});
