// The node side, end to end through the ISO root's scripts and the bundled agent, on a host root
// of the test's own (--root) with the system commands replaced (test/node-fixture.ts):
// iso-manager.sh adds MetalK8s ISOs to bootstrap.yaml and mounts them; solution-manager.sh
// imports the example Solution, real nginx serves its images with the rendered configuration
// and skopeo pulls them by digest, then removes it; tampered Solutions change nothing.
import { createHash } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
  closeSync,
  copyFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { IsoReader } from '../../buildchain/iso9660/reader.ts';
import { writeIso } from '../../buildchain/iso9660/writer.ts';
import { EXAMPLE_IMAGES, exampleSolutionSource } from '../example-solution.ts';
import { testKeyring } from '../gpg.ts';
import { requireTool, runCli, tempDir } from '../helpers.ts';
import { declaredRuntime } from '../runtime-cache.ts';
import { ENDPOINTS, fakeNode } from '../node-fixture.ts';
import { startNginxServer, type LocalServer } from '../servers.ts';

const BOOTSTRAP = `# Written by the operator: comments and order must survive.
apiVersion: metalk8s.scality.com/v1alpha2
kind: BootstrapConfiguration
networks:
  controlPlane: 10.0.0.0/24 # the management network
  workloadPlane: 10.0.1.0/24
# Versions available to the cluster
archives:
  - /srv/scality/metalk8s-2.4.0
`;

/**
 * A small MetalK8s ISO with product.txt, an SBOM listing one package, and SHA256SUM beside it;
 * `upstream` makes it as upstream's chain does: no SBOM, nothing beside it.
 */
async function metalk8sIso(version: string, { upstream = false } = {}): Promise<{ iso: string; dir: string }> {
  const dir = tempDir('mk8s-release-');
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'packages'), { recursive: true });
  const rpm = Buffer.from(`package of ${version}\n`);
  writeFileSync(join(tree, 'packages', 'tool-1.0-1.el7.x86_64.rpm'), rpm);
  writeFileSync(
    join(tree, 'product.txt'),
    `NAME=MetalK8s\nVERSION=${version}\nSHORT_VERSION=${version.split('.').slice(0, 2).join('.')}\n`,
  );
  if (!upstream)
    writeFileSync(
      join(tree, 'sbom.spdx.json'),
      JSON.stringify({
        spdxVersion: 'SPDX-2.3',
        packages: [
          {
            name: 'tool',
            packageFileName: 'packages/tool-1.0-1.el7.x86_64.rpm',
            primaryPackagePurpose: 'APPLICATION',
            checksums: [{ algorithm: 'SHA256', checksumValue: createHash('sha256').update(rpm).digest('hex') }],
          },
        ],
      }),
    );
  const iso = join(dir, `metalk8s-${version}.iso`);
  const { sha256 } = await writeIso(tree, iso, { volumeId: `MetalK8s ${version}` });
  if (!upstream) writeFileSync(join(dir, 'SHA256SUM'), `${sha256}  metalk8s-${version}.iso\n`);
  return { iso, dir };
}

/** Flips one byte of a file inside an ISO (found with our reader), `at` bytes into its first sector. */
async function flipByteOf(iso: string, path: string, at = 100): Promise<void> {
  const reader = await IsoReader.open(iso);
  const entry = (await reader.list()).entries.find((candidate) => candidate.path === path)!;
  await reader.close();
  const fd = openSync(iso, 'r+');
  const offset = entry.extents[0]![0] * 2048 + at;
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, offset);
  closeSync(fd);
}

/** Upstream's _configure_archives, as the fake node records it: the node's version, then each archive's saltenv. */
function configureCalls(node: string, archives: string[], test: 'True' | 'False' = 'False'): string[] {
  return [
    'salt-call --out txt slsutil.renderer string={{ pillar.metalk8s.nodes[grains.id].version }}',
    `salt-call state.sls metalk8s.archives.mounted saltenv=metalk8s-${node} test=${test} --retcode-passthrough`,
    "salt-call --out txt slsutil.renderer string={{ salt.metalk8s.get_archives().keys() | join(' ') }}",
    ...archives.flatMap((version) => [
      'salt-call --out txt pillar.get metalk8s:endpoints',
      `salt-call --local state.sls metalk8s.archives.configured saltenv=metalk8s-${version} pillar={'metalk8s': {'endpoints': ${ENDPOINTS}}} test=${test} --retcode-passthrough`,
    ]),
    `salt-call state.sls metalk8s.archives saltenv=metalk8s-${node} test=${test} --retcode-passthrough`,
  ];
}

describe('iso-manager.sh', () => {
  it(
    'checks ISOs, adds them to bootstrap.yaml keeping its comments, mounts them, hands over to Salt; twice changes nothing',
    { timeout: 60_000 },
    async () => {
      const node = await fakeNode();
      const config = join(node.root, 'etc/metalk8s/bootstrap.yaml');
      mkdirSync(join(config, '..'), { recursive: true });
      writeFileSync(config, BOOTSTRAP);
      const { iso } = await metalk8sIso('2.4.1');

      const first = await node.run('iso-manager.sh', ['-a', iso, '--root', node.root]);
      expect([first.code, first.stderr]).toEqual([0, '']);
      expect(first.stdout).toContain('metalk8s-2.4.1.iso: sha256 ');
      expect(first.stdout).toContain('1 images and packages of sbom.spdx.json match their 1 files in the ISO');
      expect(readFileSync(config, 'utf8')).toBe(`${BOOTSTRAP}  - ${iso}\n`);
      const mounted = join(node.root, 'srv/scality/metalk8s-2.4.1');
      expect(readFileSync(join(mounted, 'product.txt'), 'utf8')).toContain('VERSION=2.4.1');
      expect(readFileSync(join(node.root, 'etc/fstab'), 'utf8')).toBe(
        '# Generated by MetalK8s 2.4.1 (metalk8s-agent, mount of /srv/scality/metalk8s-2.4.1); changes made here are lost when it is generated again\n' +
          `${iso} /srv/scality/metalk8s-2.4.1 iso9660 ro,nofail 0 0\n`,
      );
      expect(readFileSync(join(node.root, 'var/log/metalk8s/iso-manager.log'), 'utf8')).toContain('> Mount archives');
      // bootstrap.yaml's /srv/scality/metalk8s-2.4.0 is not there: Salt skips it.
      expect(node.calls()).toEqual([`mount -o ro -t iso9660 ${iso} ${mounted}`, ...configureCalls('2.4.1', ['2.4.1'])]);

      // Idempotent: nothing is written or mounted again; Salt (idempotent itself) is asked again.
      const second = await node.run('iso-manager.sh', ['--archive', iso, '--root', node.root]);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('/etc/metalk8s/bootstrap.yaml already lists what was asked');
      expect(second.stdout).toContain(`already mounted at /srv/scality/metalk8s-2.4.1`);
      expect(readFileSync(config, 'utf8')).toBe(`${BOOTSTRAP}  - ${iso}\n`);
      expect(node.calls().filter((call) => call.startsWith('mount'))).toHaveLength(1);

      // Dry run: says what it would do, Salt in test mode, nothing changed.
      const next = await metalk8sIso('2.5.0');
      const dry = await node.run('iso-manager.sh', ['-a', next.iso, '-d', '--root', node.root]);
      expect([dry.code, dry.stderr]).toEqual([0, '']);
      expect(dry.stdout).toContain(`[dry run] /etc/metalk8s/bootstrap.yaml: add ${next.iso}`);
      expect(dry.stdout).toContain(`[dry run] mount ${next.iso} at /srv/scality/metalk8s-2.5.0`);
      // Salt in test mode configures what bootstrap.yaml lists, which the dry run left as it was.
      expect(node.calls().slice(-6)).toEqual(configureCalls('2.4.1', ['2.4.1'], 'True'));
      expect(readFileSync(config, 'utf8')).toBe(`${BOOTSTRAP}  - ${iso}\n`);
      expect(existsSync(join(node.root, 'srv/scality/metalk8s-2.5.0'))).toBe(false);

      // -a also takes a directory holding an unpacked archive, as upstream's "archive folder or
      // ISO": listed in bootstrap.yaml as it is, nothing to mount, handed to Salt.
      const unpacked = join(tempDir('mk8s-unpacked-'), 'metalk8s-2.5.0');
      mkdirSync(unpacked);
      writeFileSync(join(unpacked, 'product.txt'), 'NAME=MetalK8s\nVERSION=2.5.0\n');
      const before = node.calls().length;
      const fromDir = await node.run('iso-manager.sh', ['-a', unpacked, '--root', node.root]);
      expect([fromDir.code, fromDir.stderr]).toEqual([0, '']);
      expect(fromDir.stdout).toContain(`${unpacked}: MetalK8s 2.5.0`);
      expect(readFileSync(config, 'utf8')).toBe(`${BOOTSTRAP}  - ${iso}\n  - ${unpacked}\n`);
      expect(
        node
          .calls()
          .slice(before)
          .filter((call) => call.startsWith('mount')),
      ).toEqual([]);
      expect(node.calls().slice(before)).toEqual(configureCalls('2.4.1', ['2.4.1', '2.5.0']));
      // What Salt's metalk8s.archives.mounted asserts, refused before bootstrap.yaml changes.
      const solution = join(tempDir('mk8s-unpacked-'), 'example-1.0.0');
      mkdirSync(solution);
      writeFileSync(join(solution, 'product.txt'), 'NAME=Example\nVERSION=1.0.0\n');
      const notMetalk8s = await node.run('iso-manager.sh', ['-a', solution, '--root', node.root]);
      expect([notMetalk8s.code, notMetalk8s.stderr]).toEqual([
        1,
        `metalk8s-agent: ${solution}: product.txt NAME is "Example", not MetalK8s (a Solution? see solution-manager.sh)\n`,
      ]);
      expect(readFileSync(config, 'utf8')).toBe(`${BOOTSTRAP}  - ${iso}\n  - ${unpacked}\n`);
      const notArchive = await node.run('iso-manager.sh', ['-a', join(unpacked, '..'), '--root', node.root]);
      expect([notArchive.code, notArchive.stderr]).toEqual([
        1,
        `metalk8s-agent: ${join(unpacked, '..', 'product.txt')}: missing, ${join(unpacked, '..')} is not an archive\n`,
      ]);
    },
  );

  it(
    "imports an ISO as upstream's chain makes it (no SBOM, no SHA256SUM) beside a 2.4.0 archive: each configured in its own saltenv",
    { timeout: 60_000 },
    async () => {
      // A 2.4.0 node: its own archive mounted and listed, the 2.4.1 ISO from upstream to add.
      const node = await fakeNode({ version: '2.4.0' });
      const config = join(node.root, 'etc/metalk8s/bootstrap.yaml');
      mkdirSync(join(node.root, 'srv/scality/metalk8s-2.4.0'), { recursive: true });
      writeFileSync(join(node.root, 'srv/scality/metalk8s-2.4.0/product.txt'), 'NAME=MetalK8s\nVERSION=2.4.0\n');
      mkdirSync(join(config, '..'), { recursive: true });
      writeFileSync(config, BOOTSTRAP);
      const { iso } = await metalk8sIso('2.4.1', { upstream: true });

      const result = await node.run('iso-manager.sh', ['-a', iso, '--root', node.root]);
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(result.stdout).toContain(
        [
          `  no SHA256SUM beside ${iso}: digest check skipped`,
          `  no sbom.spdx.json in ${iso}: content digest check skipped`,
          `  no --key given: signature check of ${iso} skipped`,
          `  ${iso}: MetalK8s 2.4.1`,
        ].join('\n'),
      );
      expect(readFileSync(config, 'utf8')).toBe(`${BOOTSTRAP}  - ${iso}\n`);
      const mounted = join(node.root, 'srv/scality/metalk8s-2.4.1');
      expect(node.calls()).toEqual([
        `mount -o ro -t iso9660 ${iso} ${mounted}`,
        ...configureCalls('2.4.0', ['2.4.0', '2.4.1']),
      ]);
    },
  );

  it(
    'refuses an ISO that does not match its SHA256SUM or its SBOM, --key without SHA256SUM, and a missing bootstrap.yaml, changing nothing',
    { timeout: 60_000 },
    async () => {
      const node = await fakeNode();
      const config = join(node.root, 'etc/metalk8s/bootstrap.yaml');
      const { iso, dir } = await metalk8sIso('2.4.1');

      const missing = await node.run('iso-manager.sh', ['-a', iso, '--root', node.root, '--no-salt']);
      expect([missing.code, missing.stderr]).toEqual([
        1,
        `metalk8s-agent: ${config}: not found (write the BootstrapConfiguration first)\n`,
      ]);

      mkdirSync(join(config, '..'), { recursive: true });
      writeFileSync(config, BOOTSTRAP);
      await flipByteOf(iso, 'packages/tool-1.0-1.el7.x86_64.rpm');
      const flipped = await node.run('iso-manager.sh', ['-a', iso, '--root', node.root]);
      expect(flipped.code).toBe(1);
      expect(flipped.stderr).toMatch(
        new RegExp(`^metalk8s-agent: ${iso}: sha256 [0-9a-f]{64} does not match ${dir}/SHA256SUM`),
      );

      // Without SHA256SUM beside it, the digest check is skipped, but the SBOM still catches a
      // changed byte of a file it lists (the one above is past the file's end, in its sector).
      const alone = join(tempDir(), 'metalk8s-2.4.1.iso');
      copyFileSync(iso, alone);
      await flipByteOf(alone, 'packages/tool-1.0-1.el7.x86_64.rpm', 0);
      const unlisted = await node.run('iso-manager.sh', ['-a', alone, '--root', node.root]);
      expect(unlisted.code).toBe(1);
      expect(unlisted.stdout).toContain(`  no SHA256SUM beside ${alone}: digest check skipped\n`);
      expect(unlisted.stderr).toMatch(
        new RegExp(
          `^metalk8s-agent: ${alone}: packages/tool-1\\.0-1\\.el7\\.x86_64\\.rpm has sha256 [0-9a-f]{64}, but sbom\\.spdx\\.json \\(tool\\) says [0-9a-f]{64}\n$`,
        ),
      );
      // A key asks for the signature of SHA256SUM: with none, refused rather than skipped.
      const unsigned = await node.run('iso-manager.sh', [
        '-a',
        alone,
        '--key',
        join(dir, 'key.asc'),
        '--root',
        node.root,
      ]);
      expect(unsigned.stderr).toBe(
        `metalk8s-agent: ${alone}: --key needs the ISO checked against its SHA256SUM (none at ${join(alone, '..', 'SHA256SUM')}; give it with --sums)\n`,
      );
      expect(readFileSync(config, 'utf8')).toBe(BOOTSTRAP);
      expect(existsSync(join(node.root, 'srv'))).toBe(false);
      expect(node.calls()).toEqual([]);

      const noNode = await node.run('iso-manager.sh', ['-a', iso], { NODE: 'node-not-installed' });
      expect([noNode.code, noNode.stderr]).toEqual([
        1,
        'iso-manager.sh: node-not-installed is missing: this script runs from the root of a MetalK8s ISO, which ships it (or set NODE to a Node.js 16 or later)\n',
      ]);
      // Without NODE, the runtime beside the scripts runs the agent: Node.js 16, not the test runner's.
      expect(execFileSync(join(node.scripts, 'runtime', 'node'), ['--version'], { encoding: 'utf8' })).toBe(
        `v${declaredRuntime().version}\n`,
      );

      const usage = await node.run('iso-manager.sh', ['--bogus']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("Unknown option '--bogus'");
    },
  );
  it(
    'with --key, imports a release whose SHA256SUM.asc verifies and refuses one signed by another key',
    { timeout: 60_000 },
    async () => {
      const node = await fakeNode();
      const config = join(node.root, 'etc/metalk8s/bootstrap.yaml');
      mkdirSync(join(config, '..'), { recursive: true });
      writeFileSync(config, BOOTSTRAP);
      const { iso, dir } = await metalk8sIso('2.4.1');
      const gpg = requireTool('gpg');
      const keys: Record<string, string> = {};
      for (const who of ['release', 'other']) {
        const { publicKey, env } = await testKeyring(`${who}@example.invalid`);
        if (who === 'release')
          await promisify(execFile)(
            gpg,
            ['--batch', '--armor', '--detach-sign', '--output', join(dir, 'SHA256SUM.asc'), join(dir, 'SHA256SUM')],
            { env },
          );
        keys[who] = publicKey;
        await promisify(execFile)(requireTool('gpgconf'), ['--kill', 'gpg-agent'], { env }).catch(() => undefined);
      }

      const other = await node.run('iso-manager.sh', [
        '-a',
        iso,
        '--key',
        keys.other!,
        '--no-salt',
        '--root',
        node.root,
      ]);
      expect(other.code).toBe(1);
      expect(other.stderr).toContain(
        `${dir}/SHA256SUM.asc: the signature of ${dir}/SHA256SUM does not verify with ${keys.other}`,
      );
      expect(readFileSync(config, 'utf8')).toBe(BOOTSTRAP);

      const good = await node.run('iso-manager.sh', [
        '-a',
        iso,
        '--key',
        keys.release!,
        '--no-salt',
        '--root',
        node.root,
      ]);
      expect([good.code, good.stderr]).toEqual([0, '']);
      expect(good.stdout).toContain(`SHA256SUM: signature good (SHA256SUM.asc, key ${keys.release})`);
      expect(readFileSync(config, 'utf8')).toBe(`${BOOTSTRAP}  - ${iso}\n`);
    },
  );
});

describe('solution-manager.sh', () => {
  let nginx: LocalServer | undefined;
  afterEach(async () => {
    await nginx?.stop();
    nginx = undefined;
  });

  /** nginx serving the registry constants and every file of the node's conf.d, reloaded by NGINX_RELOAD. */
  async function startRepositories(root: string): Promise<{ reload: string }> {
    const dir = tempDir('mk8s-repositories-');
    const constants = await runCli(['registry-config', '--only-constants'], { entry: 'toolkit.ts' });
    writeFileSync(join(dir, 'common.inc'), constants.stdout);
    const confD = join(root, 'var/lib/metalk8s/repositories/conf.d');
    nginx = await startNginxServer(dir, `include ${join(dir, 'common.inc')};\ninclude ${confD}/*.inc;`, { workers: 1 });
    const reload = join(dir, 'reload');
    // nginx -s reload only signals the master: until the old workers have exited they still
    // accept connections with the old configuration, so the script waits for them, as a test
    // that pulls right after the agent's reload needs.
    writeFileSync(
      reload,
      [
        '#!/bin/sh',
        `echo "nginx-reload" >> "${join(dir, 'reloads.log')}"`,
        `master=$(cat "${join(dir, 'nginx.pid')}")`,
        `old=$(awk -v m="$master" '$4 == m { print $1 }' /proc/[0-9]*/stat 2>/dev/null)`,
        `"${requireTool('nginx')}" -q -s reload -p "${dir}" -c "${join(dir, 'nginx.conf')}" || exit`,
        'for _ in $(seq 100); do',
        '  alive=0; for pid in $old; do kill -0 "$pid" 2>/dev/null && alive=1; done',
        '  [ "$alive" = 0 ] && exit 0; sleep 0.1',
        'done',
        'echo "old nginx workers still running after 10 s: $old" >&2; exit 1',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    return { reload };
  }

  /** skopeo's digest of an image served by the node, once nginx's reload has taken effect. */
  async function servedDigest(reference: string): Promise<string> {
    const skopeo = requireTool('skopeo');
    let last: unknown;
    for (let attempt = 0; attempt < 40; attempt++) {
      try {
        const { stdout } = await promisify(execFile)(skopeo, [
          'inspect',
          '--tls-verify=false',
          '--raw',
          `docker://${nginx!.host}/${reference}`,
        ]);
        return `sha256:${createHash('sha256').update(stdout).digest('hex')}`;
      } catch (error) {
        last = error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw last;
  }

  async function exampleIso(): Promise<string> {
    const iso = join(tempDir(), 'example-solution-1.0.0.iso');
    const built = await runCli(['solution', 'build', await exampleSolutionSource(), '-o', iso], {
      entry: 'toolkit.ts',
    });
    expect([built.code, built.stderr]).toEqual([0, '']);
    return iso;
  }

  it(
    'imports the example Solution so that skopeo pulls its images from nginx, then removes it',
    { timeout: 120_000 },
    async () => {
      const node = await fakeNode();
      const { reload } = await startRepositories(node.root);
      const iso = await exampleIso();
      const env = { NGINX_RELOAD: reload };

      const added = await node.run('solution-manager.sh', ['-a', iso, '--root', node.root], env);
      expect([added.code, added.stderr]).toEqual([0, '']);
      const solutions = join(node.root, 'etc/metalk8s/solutions.yaml');
      expect(readFileSync(solutions, 'utf8')).toBe(
        `apiVersion: metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives:\n  - ${iso}\n`,
      );
      const mountPoint = join(node.root, 'srv/scality/example-1.0.0');
      const confFile = join(node.root, 'var/lib/metalk8s/repositories/conf.d/example-1.0.0-registry-config.inc');
      expect(readFileSync(confFile, 'utf8')).toContain(`alias "${mountPoint}/images/example-ui/1.0.0/manifest.json";`);
      // Generated files say who wrote them (upstream's tagged generated files): the rendered
      // configuration by this agent, its template by the toolkit that built the Solution; the
      // fstab entry by this agent.
      expect(readFileSync(confFile, 'utf8')).toMatch(
        new RegExp(
          '^# Generated by MetalK8s 2\\.4\\.1 \\(solution-manager, from /srv/scality/example-1\\.0\\.0/registry-config\\.inc\\.j2\\); ' +
            '[^\\n]*\\n# Generated by MetalK8s toolkit \\S+ \\(solution build\\); ',
        ),
      );
      expect(readFileSync(join(node.root, 'etc/fstab'), 'utf8')).toContain(
        '# Generated by MetalK8s 2.4.1 (metalk8s-agent, mount of /srv/scality/example-1.0.0); ',
      );
      for (const image of EXAMPLE_IMAGES) {
        const manifest = readFileSync(join(mountPoint, 'images', image, '1.0.0', 'manifest.json'));
        expect(await servedDigest(`example-1.0.0/${image}:1.0.0`)).toBe(
          `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
        );
      }
      const pulled = join(tempDir(), 'pulled');
      await promisify(execFile)(requireTool('skopeo'), [
        'copy',
        '--src-tls-verify=false',
        `docker://${nginx!.host}/example-1.0.0/example-ui:1.0.0`,
        `dir:${pulled}`,
      ]);
      expect(node.calls()).toEqual([
        'salt-call --out txt slsutil.renderer string={{ pillar.metalk8s.nodes[grains.id].version }}',
        `mount -o ro -t iso9660 ${iso} ${mountPoint}`,
        'crictl ps -q --label io.kubernetes.container.name=salt-master',
        'salt-call --local --out txt grains.get id',
        "crictl exec salt-master-0123 salt-run state.orchestrate metalk8s.orchestrate.solutions.available saltenv=metalk8s-2.4.1 pillar={'bootstrap_id': 'bootstrap'}",
        "crictl exec salt-master-0123 salt-run state.orchestrate metalk8s.orchestrate.solutions saltenv=metalk8s-2.4.1 pillar={'bootstrap_id': 'bootstrap'}",
      ]);
      const reloads = () =>
        readFileSync(join(reload, '..', 'reloads.log'), 'utf8')
          .split('\n')
          .filter(Boolean).length;
      expect(reloads()).toBe(1);

      // Twice: the same files, no mount, no reload.
      const before = readFileSync(solutions, 'utf8');
      const again = await node.run('solution-manager.sh', ['--add', iso, '--root', node.root], env);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('/etc/metalk8s/solutions.yaml already lists what was asked');
      expect(again.stdout).toContain('example-1.0.0-registry-config.inc is up to date');
      expect(readFileSync(solutions, 'utf8')).toBe(before);
      expect(node.calls().filter((call) => call.startsWith('mount'))).toHaveLength(1);
      expect(reloads()).toBe(1);

      // A dry run of the removal changes nothing.
      const dry = await node.run(
        'solution-manager.sh',
        ['-d', iso, '--dry-run', '--no-salt', '--root', node.root],
        env,
      );
      expect([dry.code, dry.stderr]).toEqual([0, '']);
      expect(dry.stdout).toContain('[dry run] unmount /srv/scality/example-1.0.0');
      expect(readFileSync(solutions, 'utf8')).toBe(before);
      expect(existsSync(confFile)).toBe(true);

      const removed = await node.run('solution-manager.sh', ['-d', iso, '--no-salt', '--root', node.root], env);
      expect([removed.code, removed.stderr]).toEqual([0, '']);
      expect(readFileSync(solutions, 'utf8')).toBe(
        'apiVersion: metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives: []\n',
      );
      expect(existsSync(confFile)).toBe(false);
      expect(existsSync(mountPoint)).toBe(false);
      expect(readFileSync(join(node.root, 'etc/fstab'), 'utf8')).toBe('\n');
      expect(node.calls().at(-1)).toBe(`umount ${mountPoint}`);
      expect(reloads()).toBe(2);
      // nginx no longer serves it: 404 NAME_UNKNOWN (once the reload took effect).
      let refused = '';
      for (let attempt = 0; attempt < 40 && !/name unknown/.test(refused); attempt++) {
        refused = await promisify(execFile)(requireTool('skopeo'), [
          'inspect',
          '--tls-verify=false',
          '--raw',
          `docker://${nginx!.host}/example-1.0.0/example-ui:1.0.0`,
        ]).then(
          () => '',
          (error: { stderr: string }) => error.stderr,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(refused).toMatch(/name unknown/);
      expect((await fetch(`http://${nginx!.host}/v2/example-1.0.0/example-ui/manifests/1.0.0`)).status).toBe(404);
    },
  );

  it(
    'refuses tampered Solutions and one this MetalK8s does not satisfy, leaving solutions.yaml untouched',
    { timeout: 120_000 },
    async () => {
      const node = await fakeNode({ version: '2.4.1' });
      const solutions = join(node.root, 'etc/metalk8s/solutions.yaml');
      mkdirSync(join(solutions, '..'), { recursive: true });
      const original =
        '# Solutions of this site\napiVersion: metalk8s.scality.com/v1alpha1\nkind: SolutionsConfiguration\narchives: []\n';
      writeFileSync(solutions, original);
      const good = await exampleIso();
      const refuse = async (iso: string, said: RegExp) => {
        const result = await node.run('solution-manager.sh', ['-a', good, '-a', iso, '--root', node.root]);
        expect(result.code, result.stdout).toBe(1);
        expect(result.stderr).toMatch(said);
        expect(readFileSync(solutions, 'utf8')).toBe(original);
        expect(existsSync(join(node.root, 'srv'))).toBe(false);
      };

      // A flipped byte in a layer.
      const flipped = join(tempDir(), 'flipped.iso');
      copyFileSync(good, flipped);
      const reader = await IsoReader.open(flipped);
      const layer = (await reader.list()).entries.find(
        (entry) => /^images\/example-ui\/1\.0\.0\/[0-9a-f]{64}$/.test(entry.path) && entry.size > 5000,
      )!;
      await reader.close();
      await flipByteOf(flipped, layer.path);
      await refuse(flipped, new RegExp(`${layer.path}: content does not match its digest name`));

      // A `..` name and a symlink out of the tree, written as an ISO without the builder's checks.
      const source = await exampleSolutionSource();
      const tree = join(tempDir(), 'tree');
      await promisify(execFile)('cp', ['-a', source, tree]);
      writeFileSync(
        join(tree, 'product.txt'),
        'NAME=Example\nVERSION=1.0.0\nREQUIRE_METALK8S=">=2.4.0"\nARCHIVE_LAYOUT_VERSION=1\n',
      );
      writeFileSync(join(tree, 'registry-config.inc.j2'), '');
      writeFileSync(join(tree, 'ui', 'zz'), 'escape\n');
      await promisify(execFile)('ln', ['-s', '../../../etc/shadow', join(tree, 'ui', 'shadow')]);
      const escaping = join(tempDir(), 'escaping.iso');
      await writeIso(tree, escaping, { volumeId: 'Example 1.0.0' });
      await refuse(
        escaping,
        /not a valid Solution archive:\n {2}ui\/shadow: symlink to \.\.\/\.\.\/\.\.\/etc\/shadow leaves the archive\n$/,
      );
      // Rename ui/zz to ui/.. in its Rock Ridge NM entry: NM, length 7, version 1, flags 0, "zz".
      const bytes = readFileSync(escaping);
      const nm = bytes.indexOf(Buffer.from([0x4e, 0x4d, 7, 1, 0, 0x7a, 0x7a]));
      expect(nm).toBeGreaterThan(0);
      bytes.write('..', nm + 5, 'latin1');
      writeFileSync(escaping, bytes);
      await refuse(escaping, new RegExp(`^metalk8s-agent: ${escaping}: invalid name "\\.\\." in /ui\\n$`));

      // A valid Solution for a MetalK8s this node does not run.
      const future = await exampleSolutionSource();
      writeFileSync(join(future, 'product.txt'), 'NAME=Example\nVERSION=1.0.0\nREQUIRE_METALK8S=">=3.0.0"\n');
      const futureIso = join(tempDir(), 'future.iso');
      expect((await runCli(['solution', 'build', future, '-o', futureIso], { entry: 'toolkit.ts' })).code).toBe(0);
      await refuse(
        futureIso,
        new RegExp(
          `^metalk8s-agent: ${futureIso}: Example 1\\.0\\.0 requires MetalK8s >=3\\.0\\.0, this node runs 2\\.4\\.1\\n$`,
        ),
      );
      expect(node.calls().filter((call) => !call.includes('slsutil.renderer'))).toEqual([]);
    },
  );
});
