// The daemonless builder: deterministic layers on a base pulled by digest, read by skopeo and bsdtar.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool, runCli, tempDir } from '../../test/helpers.ts';
import { startContainerd } from '../../test/servers-for-tests.ts';
import { imageOf, pushImage, randomLayer, startRegistry } from '../../test/registry.ts';
import { buildTestRpms, createRepo } from '../../test/rpm-fixtures.ts';
import { loadBuildSpec } from './build-spec.ts';
import { buildImage } from './builder.ts';
import { digestHex } from '../store/sha256.ts';
import { writeDirLayout } from './layout.ts';
import { ImagePuller } from './puller.ts';
import { BlobStore } from '../store/blob-store.ts';

const run = promisify(execFile);
const signal = new AbortController().signal;

function writeSpec(dir: string, base: string): string {
  mkdirSync(join(dir, 'site/css'), { recursive: true });
  writeFileSync(join(dir, 'site/index.html'), '<h1>MetalK8s</h1>\n');
  writeFileSync(join(dir, 'site/css/main.css'), 'h1 { color: red }\n');
  symlinkSync('index.html', join(dir, 'site/home.html'));
  writeFileSync(join(dir, 'entrypoint.sh'), '#!/bin/sh\nexec "$@"\n', { mode: 0o644 });
  const spec = join(dir, 'image.yaml');
  writeFileSync(
    spec,
    [
      'name: ui',
      'version: 1.0.0',
      `base: ${base}`,
      'layers:',
      '  - directory: site',
      '    to: /usr/share/nginx/html',
      '  - files:',
      '      - {from: entrypoint.sh, to: /entrypoint.sh, mode: "0755"}',
      'config:',
      '  Entrypoint: [/entrypoint.sh]',
      '  Cmd: [nginx, -g, daemon off;]',
      '  ExposedPorts: {"80/tcp": {}}',
      '  WorkingDir: /usr/share/nginx/html',
      '  Labels: {org.opencontainers.image.title: ui}',
      '',
    ].join('\n'),
  );
  return spec;
}

describe('daemonless image builder', () => {
  it('builds the same digest twice, on a v2s2 base; skopeo, bsdtar and containerd read the result', async () => {
    const registry = await startRegistry();
    const baseDigest = await pushImage(
      registry.host,
      'library/nginx',
      '1.15.8',
      imageOf([await randomLayer('usr/sbin/nginx', 30_000)]),
      'v2s2',
    );
    const spec = loadBuildSpec(writeSpec(tempDir(), `docker.io/library/nginx@${baseDigest}`));
    const build = async () => {
      const store = new BlobStore(tempDir('mk8s-store-'));
      const puller = new ImagePuller({
        store,
        mirrors: new Map([['docker.io', registry.host]]),
        credentials: () => undefined,
      });
      const image = await buildImage(spec, {
        store,
        puller,
        sourceDateEpoch: 1_600_000_000,
        labels: { 'org.opencontainers.image.version': '1.0.0' },
        signal,
      });
      const dir = join(tempDir(), 'ui');
      await writeDirLayout(store, image, dir);
      return { image, dir };
    };
    const first = await build();
    const second = await build();
    expect(second.image.top.digest).toBe(first.image.top.digest);
    expect(first.image.top.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');

    const { stdout } = await run(requireTool('skopeo'), ['inspect', '--config', `dir:${first.dir}`]);
    const config = JSON.parse(stdout) as {
      created: string;
      config: Record<string, unknown>;
      rootfs: { diff_ids: string[] };
    };
    expect(config.created).toBe('2020-09-13T12:26:40Z');
    expect(config.config.Entrypoint).toEqual(['/entrypoint.sh']);
    expect(config.config.Labels).toEqual({
      'org.opencontainers.image.title': 'ui',
      'org.opencontainers.image.version': '1.0.0',
      test: '',
    });
    expect(config.rootfs.diff_ids).toHaveLength(3);

    const layer = join(first.dir, digestHex(first.image.blobs[2]!.digest));
    const listing = (await run(requireTool('bsdtar'), ['-tvf', layer])).stdout.trim().split('\n');
    expect(listing.map((line) => line.split(/\s+/).slice(8).join(' '))).toEqual([
      'usr/',
      'usr/share/',
      'usr/share/nginx/',
      'usr/share/nginx/html/',
      'usr/share/nginx/html/css/',
      'usr/share/nginx/html/css/main.css',
      'usr/share/nginx/html/home.html -> index.html',
      'usr/share/nginx/html/index.html',
    ]);
    expect(listing.every((line) => / 0\s+0 /.test(line))).toBe(true);
    const entrypoint = (
      await run(requireTool('bsdtar'), ['-tvf', join(first.dir, digestHex(first.image.blobs[3]!.digest))])
    ).stdout;
    expect(entrypoint).toMatch(/^-rwxr-xr-x .* entrypoint\.sh$/m);

    // A registry accepts it as is.
    await run(requireTool('skopeo'), [
      '--insecure-policy',
      'copy',
      '--dest-tls-verify=false',
      `dir:${first.dir}`,
      `docker://${registry.host}/metalk8s/ui:1.0.0`,
    ]);
    const pushed = JSON.parse(
      (
        await run(requireTool('skopeo'), [
          'inspect',
          '--tls-verify=false',
          `docker://${registry.host}/metalk8s/ui:1.0.0`,
        ])
      ).stdout,
    ) as { Digest: string };
    expect(pushed.Digest).toBe(first.image.top.digest);
    // containerd pulls and unpacks it: every layer's diff_id matches its uncompressed tar.
    const containerd = await startContainerd();
    const ref = `${registry.host}/metalk8s/ui:1.0.0`;
    await run(requireTool('ctr'), ['--address', containerd.address, 'images', 'pull', '--plain-http', ref]);
    const listed = (await run(requireTool('ctr'), ['--address', containerd.address, 'images', 'ls', `name==${ref}`]))
      .stdout;
    expect(listed).toContain(first.image.top.digest);
  });

  it('names the file and field of a bad definition', () => {
    const dir = tempDir();
    const bad = (text: string) => {
      writeFileSync(join(dir, 'image.yaml'), text);
      return () => loadBuildSpec(join(dir, 'image.yaml'));
    };
    expect(bad('name: x\nversion: 1\n')).toThrow(
      /image\.yaml:2: version is the number 1; quote it \("1"\) so that YAML keeps it as written/,
    );
    expect(bad('name: x\nversion: "1"\nbase: docker.io/library/nginx:1.15.8\n')).toThrow(
      /image\.yaml:3: base must be pinned by digest \(\.\.\.@sha256:\.\.\.\) or be scratch, not "docker.io\/library\/nginx:1.15.8"/,
    );
    expect(bad('name: x\nversion: "1"\nlayers:\n  - files: [{from: a}]\n')).toThrow(
      /image\.yaml:4: layers\[0\]\.files\[0\]\.to is missing: its path in the image/,
    );
    expect(bad('name: x\nversion: "1"\nconfig: {Entrypoint: [a], Healthcheck: {}}\n')).toThrow(
      /image\.yaml:3: config: unknown key "Healthcheck" \(known keys: Entrypoint, Cmd, Env/,
    );
    expect(bad('name: x\nversion: "1"\nlayers:\n  - {files: [{from: a, to: /a, mode: 999}]}\n')).toThrow(
      /layers\[0\]\.files\[0\]\.mode: "999" is not an octal mode/,
    );
    expect(bad('name: x\nversion: "1"\nlayers:\n  - {packages: []}\n')).toThrow(
      /image\.yaml:4: layers\[0\]\.packages must be a non-empty list of package names/,
    );
    expect(bad('name: x\nversion: "1"\nlayers:\n  - {packages: [{name: keepalived, version: 1.3}]}\n')).toThrow(
      /image\.yaml:4: layers\[0\]\.packages\[0\] \(keepalived\)\.version is the number 1\.3; quote it \("1\.3"\)/,
    );
    expect(bad('name: x\nversion: "1"\nlayers:\n  - {directory: ., repositories: [base]}\n')).toThrow(
      /layers\[0\]\.packages is missing \(needed with "repositories"\): only a "packages" layer takes repositories/,
    );
    expect(bad('name: x\nversion: "1"\nlayers:\n  - {packages: [a], repositories: [{name: os}]}\n')).toThrow(
      /image\.yaml:4: layers\[0\]\.repositories\[0\] \(os\)\.baseurl is missing/,
    );
    expect(
      bad('name: x\nversion: "1"\nlayers:\n  - {packages: [a], repositories: [{name: os, baseurl: ftp://x}]}\n'),
    ).toThrow(/repositories\[0\] \(os\)\.baseurl must be an http\(s\):\/\/ or file:\/\/ URL, not "ftp:\/\/x"/);
    expect(
      loadBuildSpec(
        (bad(
          'name: x\nversion: "1"\nlayers:\n  - {packages: [a, {name: b, version: "1.0-2.el7"}], repositories: [base, {name: v, baseurl: "http://h/r"}]}\n',
        ),
        join(dir, 'image.yaml')),
      ).layers[0],
    ).toEqual({
      packages: [{ name: 'a' }, { name: 'b', version: '1.0-2.el7' }],
      repositories: ['base', { name: 'v', baseurl: 'http://h/r', priority: 99 }],
    });
  });

  it(
    'unpacks RPM payloads into a layer, the same bytes twice; a packages layer needs a resolver',
    { timeout: 60_000 },
    async () => {
      const dir = tempDir();
      await buildTestRpms(join(dir, 'rpmbuild'), join(dir, 'rpms'), [
        { name: 'tool', version: '1.0', arch: 'noarch', files: ['/usr/bin/tool'], requires: ['tool-data'] },
        { name: 'tool-data', version: '1.0', arch: 'noarch' },
      ]);
      const spec = join(dir, 'image.yaml');
      writeFileSync(
        spec,
        [
          'name: tool',
          'version: "1.0"',
          'layers:',
          '  - rpms: [rpms/tool-1.0-1.noarch.rpm, rpms/tool-data-1.0-1.noarch.rpm]',
          'config: {Entrypoint: [/usr/bin/tool]}',
          '',
        ].join('\n'),
      );
      const store = new BlobStore(join(dir, 'store'));
      const first = await buildImage(loadBuildSpec(spec), { store, sourceDateEpoch: 1600000000, signal });
      const again = await buildImage(loadBuildSpec(spec), {
        store: new BlobStore(join(dir, 'store2')),
        sourceDateEpoch: 1600000000,
        signal,
      });
      expect(again.top.digest).toBe(first.top.digest);

      const layout = join(dir, 'layout');
      await writeDirLayout(store, first, layout);
      const manifest = JSON.parse(readFileSync(join(layout, 'manifest.json'), 'utf8')) as {
        layers: { digest: string }[];
      };
      const listing = (
        await run(requireTool('bsdtar'), ['-tvf', join(layout, digestHex(manifest.layers[0]!.digest))])
      ).stdout
        .trim()
        .split('\n');
      const entries = listing
        .map((line) => line.split(/\s+/))
        .map((f) => `${f[0]} ${f[2]}/${f[3]} ${f.slice(8).join(' ')}`);
      expect(entries).toEqual([
        'drwxr-xr-x 0/0 usr/',
        'drwxr-xr-x 0/0 usr/bin/',
        '-rw-r--r-- 0/0 usr/bin/tool',
        'drwxr-xr-x 0/0 usr/share/',
        'drwxr-xr-x 0/0 usr/share/tool/',
        'drwxr-xr-x 0/0 usr/share/tool-data/',
        '-rw-r--r-- 0/0 usr/share/tool-data/README',
        '-rw-r--r-- 0/0 usr/share/tool/README',
      ]);
      // skopeo reads the image as any other.
      await run(requireTool('skopeo'), ['--insecure-policy', 'inspect', `dir:${layout}`]);

      writeFileSync(spec, 'name: tool\nversion: "1.0"\nlayers:\n  - packages: [tool]\n');
      await expect(buildImage(loadBuildSpec(spec), { store, signal })).rejects.toThrow(
        `${spec}: layers[0]: a "packages" layer needs the build's repositories (build it with ./build.ts), or list RPM files with "rpms"`,
      );
      const resolved = await buildImage(loadBuildSpec(spec), {
        store,
        signal,
        sourceDateEpoch: 1600000000,
        // tool and what it requires: the closure the toolkit must find below.
        packageFiles: async (layer) =>
          [...layer.packages.map((pkg) => pkg.name), 'tool-data'].map((name) =>
            join(dir, 'rpms', `${name}-1.0-1.noarch.rpm`),
          ),
      });
      expect(resolved.blobs.length).toBe(2); // config and the one layer

      // The toolkit resolves a packages layer over the repositories it is given, dependencies included:
      // the same image.
      await createRepo(join(dir, 'rpms'));
      const cli = await runCli(
        [
          'image',
          'build',
          spec,
          join(dir, 'cli-layout'),
          '--cache',
          join(dir, 'cli-store'),
          '--repo',
          join(dir, 'rpms'),
        ],
        { entry: 'toolkit.ts', env: { SOURCE_DATE_EPOCH: '1600000000' } },
      );
      expect([cli.code, cli.stderr]).toEqual([0, '']);
      expect(cli.stdout).toBe(`${resolved.top.digest}  ${join(dir, 'cli-layout')}\n`);
    },
  );
});
