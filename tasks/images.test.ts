// The images tasks through the engine, against a real registry on 127.0.0.1 standing in for
// quay.io through REGISTRY_MIRRORS, as a release engineer's mirror would.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { declaredImages, loadImageDeclarations } from '../buildchain/oci/declarations.ts';
import { sha256Digest } from '../buildchain/store/sha256.ts';
import { layerPackagesOf } from '../buildchain/oci/package-layers.ts';
import { PackageWorkspace } from '../buildchain/rpm/workspace.ts';
import { BlobStore } from '../buildchain/store/blob-store.ts';
import { loadBuildSpec } from '../buildchain/oci/build-spec.ts';
import { buildImage } from '../buildchain/oci/builder.ts';
import { writeDirLayout } from '../buildchain/oci/layout.ts';
import { PROJECT_ROOT, requireTool, runEngine, tempDir } from '../test/helpers.ts';
import { buildTestRpms, rpmDatabase } from '../test/rpm-fixtures.ts';
import { serveTestRepos } from '../test/yum-repos.ts';
import { renderJinja } from '../test/jinja.ts';
import { startContainerd, startNginx } from '../test/servers-for-tests.ts';
import { metalk8sTasks, project } from '../test/project.ts';
import { freePort, imageOf, pushImage, randomLayer, startProxy, startRegistry } from '../test/registry.ts';

const run = promisify(execFile);

/**
 * A base image in a registry on 127.0.0.1 whose rpm database (SQLite, or CentOS 7's Berkeley DB)
 * lists libfoo and base-os-lib as installed; its reference by digest.
 */
async function baseWithRpmDatabase(format: 'sqlite' | 'bdb'): Promise<string> {
  const work = tempDir();
  await buildTestRpms(join(work, 'rpmbuild'), join(work, 'rpms'), [
    { name: 'libfoo', version: '2.3', arch: 'x86_64' },
    { name: 'base-os-lib', version: '1.0', arch: 'x86_64' },
  ]);
  await rpmDatabase(
    join(work, 'rootfs/var/lib/rpm'),
    [join(work, 'rpms/libfoo-2.3-1.x86_64.rpm'), join(work, 'rpms/base-os-lib-1.0-1.x86_64.rpm')],
    format,
  );
  writeFileSync(join(work, 'base.yaml'), 'name: base\nversion: "1"\nlayers:\n  - {directory: rootfs, to: /}\n');
  const store = new BlobStore(join(work, 'store'));
  const base = await buildImage(loadBuildSpec(join(work, 'base.yaml')), {
    store,
    signal: new AbortController().signal,
  });
  await writeDirLayout(store, base, join(work, 'base'));
  const registry = await startRegistry();
  await run(requireTool('skopeo'), [
    '--insecure-policy',
    'copy',
    '--dest-tls-verify=false',
    `dir:${join(work, 'base')}`,
    `docker://${registry.host}/base:1`,
  ]);
  return `${registry.host}/base@${base.top.digest}`;
}

/** The test packages whose files the second layer of the image at `layout` holds (each has /usr/share/<name>/README). */
async function packageLayerOwners(layout: string): Promise<string[]> {
  const manifest = JSON.parse(readFileSync(join(layout, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  expect(manifest.layers).toHaveLength(2); // the base's, then the packages'
  const listed = (
    await run(requireTool('bsdtar'), ['-tf', join(layout, manifest.layers[1]!.digest.slice(7))])
  ).stdout.split('\n');
  return [
    ...new Set(
      listed
        .map((path: string) => /^usr\/share\/([^/]+)\/README$/.exec(path)?.[1])
        .filter((name): name is string => name !== undefined),
    ),
  ].sort();
}

describe('images tasks', () => {
  it('pulls declared images once, shares layers by hard link, re-pulls only a damaged layout', async () => {
    const registry = await startRegistry();
    const shared = await randomLayer('base.bin', 200_000);
    const alertmanager = await pushImage(
      registry.host,
      'prometheus/alertmanager',
      'v0.19.0',
      imageOf([shared, await randomLayer('am', 10_000)]),
      'v2s2',
    );
    const nodeExporter = await pushImage(
      registry.host,
      'prometheus/node-exporter',
      'v0.18.0',
      imageOf([shared, await randomLayer('ne', 10_000)]),
    );
    const root = project({
      'images/images.yaml': [
        'remote:',
        '  - {name: alertmanager, image: quay.io/prometheus/alertmanager, version: "v0.19.0", digest: "' +
          alertmanager +
          '"}',
        '  - {name: node-exporter, image: quay.io/prometheus/node-exporter, version: "v0.18.0", digest: "' +
          nodeExporter +
          '"}',
        '',
      ].join('\n'),
    });
    const env = { REGISTRY_MIRRORS: `quay.io=${registry.host}` };
    const first = await runEngine(root, metalk8sTasks(root, env), ['images']);
    expect(first.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error}`)).toEqual([]);
    expect(first.summary?.ok).toBe(true);
    expect(first.executed).toEqual(
      expect.arrayContaining([
        '_image_check_sources',
        '_image_pull:alertmanager',
        '_image_pull:node-exporter',
        '_image_registry_config:nginx',
      ]),
    );
    const images = join(root, '_build/root/images');
    const hex = shared.digest.slice(7);
    const a = statSync(join(images, 'alertmanager/v0.19.0', hex));
    expect(statSync(join(images, 'node-exporter/v0.18.0', hex)).ino).toBe(a.ino);
    expect(statSync(join(root, '_build/cache/blobs/sha256', hex)).ino).toBe(a.ino);

    // The ISO's registry configuration, served by nginx as a node serves it: the archive's
    // images/ in the variable Salt sets (from the Salt tree's template), names prefixed.
    const files = join(root, '_build/root/salt/metalk8s/repo/files');
    const variables = renderJinja(
      readFileSync(join(PROJECT_ROOT, 'salt-tree/metalk8s/repo/files/metalk8s-registry-config.inc.j2'), 'utf8'),
      {
        archives: { 'metalk8s-2.4.1-dev': { path: join(root, '_build/root'), version: '2.4.1-dev' } },
      },
    );
    writeFileSync(join(root, 'variables.inc'), variables);
    const nginx = await startNginx(
      [
        'variables.inc',
        '_build/root/salt/metalk8s/repo/files/metalk8s-registry-common.inc',
        '_build/root/salt/metalk8s/repo/files/metalk8s-registry.inc',
      ]
        .map((file) => `include ${join(root, file)};`)
        .join('\n'),
    );
    expect(readFileSync(join(files, 'metalk8s-registry.inc'), 'utf8')).not.toContain(root);
    for (const file of ['metalk8s-registry.inc', 'metalk8s-registry-common.inc']) {
      expect(readFileSync(join(files, file), 'utf8')).toMatch(
        /^# Generated by MetalK8s 2\.4\.1-dev \(\.\/build\.ts _image_registry_config\); /,
      );
    }
    const pulled = join(root, 'pulled');
    await promisify(execFile)(requireTool('skopeo'), [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      `docker://${nginx.host}/metalk8s-2.4.1-dev/alertmanager:v0.19.0`,
      `dir:${pulled}`,
    ]);
    expect(sha256Digest(readFileSync(join(pulled, 'manifest.json')))).toBe(alertmanager);

    // Nothing changed: nothing runs, not even the registry check (no network needed).
    const second = await runEngine(root, metalk8sTasks(root, env), ['images']);
    expect(second.finished.filter((r) => r.executed).map((r) => `${r.name}: ${r.reasons.join('; ')}`)).toEqual([]);

    // A layout that lost a file is laid out again, from the store, without the registry.
    rmSync(join(images, 'node-exporter/v0.18.0', hex));
    const third = await runEngine(
      root,
      metalk8sTasks(root, { REGISTRY_MIRRORS: `quay.io=127.0.0.1:${await freePort()}` }),
      ['images'],
    );
    expect(third.executed).toEqual(['_image_pull:node-exporter']);
    expect(statSync(join(images, 'node-exporter/v0.18.0', hex)).ino).toBe(a.ino);
  });

  it(
    'saves an image declared with archive: true as one tar that containerd and skopeo import, digest kept',
    { timeout: 60_000 },
    async () => {
      const registry = await startRegistry();
      const pause = imageOf([await randomLayer('pause', 20_000)]);
      const digest = await pushImage(registry.host, 'pause', '3.1', pause, 'v2s2');
      const root = project({
        'images/images.yaml': `remote:\n  - {name: pause, image: k8s.gcr.io/pause, version: "3.1", digest: "${digest}", archive: salt/metalk8s/container-engine/containerd/files}\n`,
      });
      const env = { REGISTRY_MIRRORS: `k8s.gcr.io=${registry.host}`, SOURCE_DATE_EPOCH: '1600000000' };
      const report = await runEngine(root, metalk8sTasks(root, env), ['images']);
      expect(report.finished.filter((r) => r.result === 'fail').map((r) => r.error)).toEqual([]);
      const archive = join(root, '_build/root/salt/metalk8s/container-engine/containerd/files/pause-3.1.tar');
      expect(statSync(archive).isFile()).toBe(true);
      // Not served by the ISO's registry: nodes import it.
      expect(
        readFileSync(join(root, '_build/root/salt/metalk8s/repo/files/metalk8s-registry.inc'), 'utf8'),
      ).not.toContain('pause');
      // Byte-reproducible: written again, the same bytes.
      const bytes = readFileSync(archive);
      rmSync(archive);
      await runEngine(root, metalk8sTasks(root, env), ['images']);
      expect(readFileSync(archive).equals(bytes)).toBe(true);

      const skopeo = requireTool('skopeo');
      // As an OCI layout: the pinned manifest, byte for byte. As a docker archive: the same config.
      const manifest = (await promisify(execFile)(skopeo, ['inspect', '--raw', `oci-archive:${archive}`])).stdout;
      expect(sha256Digest(manifest)).toBe(digest);
      const config = (await promisify(execFile)(skopeo, ['inspect', '--config', '--raw', `docker-archive:${archive}`]))
        .stdout;
      expect(sha256Digest(config)).toBe((JSON.parse(manifest) as { config: { digest: string } }).config.digest);
      const containerd = await startContainerd();
      const ctr = (...args: string[]) =>
        promisify(execFile)(requireTool('ctr'), ['--address', containerd.address, ...args]);
      await ctr('images', 'import', archive);
      const { stdout } = await ctr('images', 'ls');
      expect(stdout).toMatch(new RegExp(`k8s\\.gcr\\.io/pause:3\\.1\\s+\\S+\\s+${digest}`));
    },
  );

  it('stops within seconds, before pulling, naming each unreachable registry and the .env key', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const root = project({
      'images/images.yaml': `remote:\n  - {name: pause, image: k8s.gcr.io/pause, version: "3.1", digest: "${digest}"}\n  - {name: nginx, image: docker.io/library/nginx, version: "1.15.8", digest: "${digest}"}\n`,
    });
    const port = await freePort();
    const started = Date.now();
    const report = await runEngine(
      root,
      metalk8sTasks(root, { REGISTRY_MIRRORS: `k8s.gcr.io=127.0.0.1:${port},docker.io=127.0.0.1:${port}` }),
      ['images'],
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    const check = report.finished.find((r) => r.name === '_image_check_sources')!;
    expect(check.result).toBe('fail');
    expect(check.error).toContain('cannot reach 2 container registries');
    expect(check.error).toContain(`docker.io (http://127.0.0.1:${port}): ECONNREFUSED`);
    expect(check.settings).toEqual(['REGISTRY_MIRRORS=docker.io=<mirror host:port>,k8s.gcr.io=<mirror host:port>']);
    expect(report.executed.filter((name) => name.startsWith('_image_pull:'))).toEqual([]);
  });

  it('builds a local image from its definition and rebuilds it when a layer file changes', async () => {
    const root = project({
      'images/images.yaml': 'local:\n  - {name: hello, version: "1.0", definition: hello/image.yaml}\n',
      'images/hello/image.yaml':
        'name: hello\nversion: "1.0"\nlayers:\n  - {directory: files, to: /srv}\nconfig: {Cmd: [/srv/hello]}\n',
      'images/hello/files/hello': 'v1\n',
    });
    const first = await runEngine(root, metalk8sTasks(root, { SOURCE_DATE_EPOCH: '1000' }), ['images']);
    expect(first.result('_image_build:hello')).toBe('success');
    const manifest = statSync(join(root, '_build/root/images/hello/1.0/manifest.json'));
    expect(manifest.size).toBeGreaterThan(0);
    expect((await runEngine(root, metalk8sTasks(root, { SOURCE_DATE_EPOCH: '1000' }), ['images'])).executed).toEqual(
      [],
    );
    mkdirSync(join(root, 'images/hello/files/more'));
    writeFileSync(join(root, 'images/hello/files/hello'), 'v2\n');
    expect((await runEngine(root, metalk8sTasks(root, { SOURCE_DATE_EPOCH: '1000' }), ['images'])).executed).toEqual([
      '_image_build:hello',
      '_image_registry_config:nginx',
    ]);
  });

  it(
    'builds a Dockerfile definition with DOCKER_BIN (podman, buildah) into a layout skopeo reads; without it, names the install line',
    { timeout: 120_000 },
    async () => {
      const root = project({
        'images/images.yaml':
          'local:\n  - {name: hello-df, version: "1.0", definition: hello-df/Dockerfile, build_args: {GREETING: bonjour}}\n',
        'images/hello-df/Dockerfile':
          'FROM scratch\nARG GREETING\nCOPY hello.txt /srv/hello.txt\nLABEL greeting="${GREETING}"\nCMD ["/srv/hello"]\n',
        'images/hello-df/hello.txt': 'hello\n',
      });
      const layout = join(root, '_build/root/images/hello-df/1.0');
      for (const tool of ['podman', 'buildah']) {
        rmSync(join(root, '_build'), { recursive: true, force: true });
        const report = await runEngine(root, metalk8sTasks(root, { DOCKER_BIN: requireTool(tool) }), ['images']);
        expect(
          report.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`),
          tool,
        ).toEqual([]);
        const { stdout } = await run(requireTool('skopeo'), ['inspect', '--config', `dir:${layout}`]);
        const config = JSON.parse(stdout) as { config: { Cmd: string[]; Labels: Record<string, string> } };
        expect(config.config.Cmd, tool).toEqual(['/srv/hello']);
        expect(config.config.Labels, tool).toMatchObject({
          greeting: 'bonjour',
          'org.opencontainers.image.version': '1.0',
        });
        const manifest = JSON.parse(readFileSync(join(layout, 'manifest.json'), 'utf8')) as {
          layers: { digest: string }[];
        };
        const layer = manifest.layers.at(-1)!.digest.slice(7);
        expect((await run(requireTool('bsdtar'), ['-xOf', join(layout, layer), 'srv/hello.txt'])).stdout, tool).toBe(
          'hello\n',
        );
        // Taken into the store: the layout is hard links, as every image's.
        expect(statSync(join(layout, layer)).ino, tool).toBe(
          statSync(join(root, '_build/cache/blobs/sha256', layer)).ino,
        );
      }
      // Built before from the same inputs: laid out again from the store, no tool needed.
      const digest = sha256Digest(readFileSync(join(layout, 'manifest.json')));
      rmSync(layout, { recursive: true });
      const again = await runEngine(root, metalk8sTasks(root, { DOCKER_BIN: 'no-such-docker' }), ['images']);
      expect(again.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`)).toEqual([]);
      expect(sha256Digest(readFileSync(join(layout, 'manifest.json')))).toBe(digest);
      // A changed context must be built: without the tool, that is an error saying what to set.
      writeFileSync(join(root, 'images/hello-df/hello.txt'), 'hello again\n');
      const missing = await runEngine(root, metalk8sTasks(root, { DOCKER_BIN: 'no-such-docker' }), ['images']);
      expect(missing.finished.find((r) => r.name === '_image_build:hello-df')!.error).toMatch(
        /'no-such-docker' not found.*DOCKER_BIN \(needed for .*hello-df\/Dockerfile\)/,
      );
    },
  );

  it("names a package layer's package that the ISO does not hold, and the packages file to declare it in", async () => {
    const root = project({
      'images/images.yaml': 'local:\n  - {name: tool, version: "1.0", definition: tool/image.yaml}\n',
      'images/tool/image.yaml': 'name: tool\nversion: "1.0"\nlayers:\n  - packages: [keepalived]\n',
    });
    const report = await runEngine(root, metalk8sTasks(root), ['images']);
    expect(report.finished.find((r) => r.name === '_image_build:tool')!.error).toBe(
      `${join(root, 'images/tool/image.yaml')}: layers[0]: no package keepalived in the repositories of the ISO (declare it in packages-rpm/packages.yaml)`,
    );
  });

  it(
    "installs a package layer's closure from the ISO repositories, minus what the base image's rpm database lists",
    { timeout: 120_000 },
    async () => {
      const base = await baseWithRpmDatabase('sqlite');
      const repos = await serveTestRepos();
      const root = project({
        'packages-rpm/packages.yaml':
          'repositories:\n  - {name: os, baseurl: "https://os.invalid/7", priority: 10}\n  - {name: extra, baseurl: "https://extra.invalid/7", priority: 20}\npackages: [{name: app}]\n',
        'images/images.yaml': 'local:\n  - {name: app, version: "1.0", definition: app/image.yaml}\n',
        'images/app/image.yaml': `name: app\nversion: "1.0"\nbase: ${base}\nlayers:\n  - packages: [app]\n`,
      });
      const env = {
        YUM_MIRROR_OS: repos.url('os'),
        YUM_MIRROR_EXTRA: repos.url('extra'),
        SOURCE_DATE_EPOCH: '1000',
        REGISTRY_MIRRORS: '',
      };
      const report = await runEngine(root, metalk8sTasks(root, env), ['images']);
      expect(report.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`)).toEqual([]);
      // app's closure as dnf resolves it, without libfoo and base-os-lib, which the base has.
      expect(await packageLayerOwners(join(root, '_build/root/images/app/1.0'))).toEqual([
        'app',
        'config-data',
        'data',
        'helper',
        'tinyhttpd',
        'webui',
      ]);
    },
  );

  it(
    "installs a layer's packages from the repositories it names, pinned in the image's lock, and rebuilds from that lock offline",
    { timeout: 120_000 },
    async () => {
      // CentOS 7 images keep a Berkeley DB rpm database, read with rpm's bdb_ro backend.
      const base = await baseWithRpmDatabase('bdb');
      const repos = await serveTestRepos();
      const definition = (cmd: string, pin = '{name: config-data, version: "9.0"}') =>
        [
          'name: app',
          'version: "1.0"',
          `base: ${base}`,
          'layers:',
          `  - packages: [app, ${pin}]`,
          '    repositories: [os, {name: vendor-extra, baseurl: "https://extra.invalid/7", priority: 20}]',
          `config: {Cmd: [${cmd}]}`,
          '',
        ].join('\n');
      const root = project({
        // The ISO ships none of os: it only feeds the image.
        'packages-rpm/packages.yaml':
          'repositories:\n  - {name: os, baseurl: "https://os.invalid/7", priority: 10, iso: false}\npackages: []\n',
        'images/images.yaml': 'local:\n  - {name: app, version: "1.0", definition: app/image.yaml}\n',
        'images/app/image.yaml': definition('/usr/bin/app'),
      });
      const online = {
        YUM_MIRROR_OS: repos.url('os'),
        YUM_MIRROR_VENDOR_EXTRA: repos.url('extra'),
        SOURCE_DATE_EPOCH: '1000',
        REGISTRY_MIRRORS: '',
      };
      const dead = { ...online, YUM_MIRROR_OS: 'http://127.0.0.1:9', YUM_MIRROR_VENDOR_EXTRA: 'http://127.0.0.1:9' };
      const failures = (report: Awaited<ReturnType<typeof runEngine>>) =>
        report.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`);
      const first = await runEngine(root, metalk8sTasks(root, online), ['images']);
      expect(failures(first)).toEqual([]);
      expect(first.executed).not.toContain('packaging');
      const layout = join(root, '_build/root/images/app/1.0');
      // app's closure, without what the base has, config-data pinned to 9.0 (the newest is 1:0.5).
      expect(await packageLayerOwners(layout)).toEqual(['app', 'config-data', 'data', 'helper', 'tinyhttpd', 'webui']);
      const lockFile = join(root, '_build/image-packages/app.lock.json');
      const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as {
        layers: { layer: number; packages: { name: string; version: string; repo: string }[] }[];
      };
      expect(lock.layers.map((layer) => layer.layer)).toEqual([0]);
      expect(lock.layers[0]!.packages.map((pkg) => `${pkg.repo}:${pkg.name}-${pkg.version}`).sort()).toEqual([
        'os:app-1.0',
        'os:config-data-9.0',
        'os:data-1.0',
        'os:helper-1.0',
        'vendor-extra:tinyhttpd-1.0',
        'vendor-extra:webui-2.0',
      ]);
      const digest = sha256Digest(readFileSync(join(layout, 'manifest.json')));
      expect((await runEngine(root, metalk8sTasks(root, online), ['images'])).executed).toEqual([]);

      // With the lock and the store, no repository is asked: the same image with every mirror dead.
      rmSync(layout, { recursive: true });
      const offline = await runEngine(root, metalk8sTasks(root, dead), ['images']);
      expect(failures(offline)).toEqual([]);
      expect(offline.result('_image_check_sources')).toBe('up-to-date');
      expect(sha256Digest(readFileSync(join(layout, 'manifest.json')))).toBe(digest);

      // Committed beside the definition, the lock serves a changed config, offline too; a changed
      // package list makes it stale, which is an error naming it.
      const committed = join(root, 'images/app/packages.lock.json');
      copyFileSync(lockFile, committed);
      rmSync(lockFile);
      writeFileSync(join(root, 'images/app/image.yaml'), definition('/usr/bin/app, --serve'));
      expect(failures(await runEngine(root, metalk8sTasks(root, dead), ['images']))).toEqual([]);
      writeFileSync(join(root, 'images/app/image.yaml'), definition('/usr/bin/app', 'webui'));
      const stale = await runEngine(root, metalk8sTasks(root, dead), ['images']);
      expect(failures(stale).join('\n')).toContain(
        `${committed} was resolved from another ${join(root, 'images/app/image.yaml')} (packages, repositories or base)`,
      );

      // Without a lock, the repositories are needed: dead ones are named with their .env keys before any download.
      rmSync(committed);
      const unreachable = await runEngine(root, metalk8sTasks(root, dead), ['images']);
      const check = unreachable.finished.find((r) => r.name === '_image_check_sources')!;
      expect(check.error).toContain(
        'cannot reach 2 yum repositories:\n  os (http://127.0.0.1:9/repodata/repomd.xml): ',
      );
      expect(check.settings).toContain('YUM_MIRROR_VENDOR_EXTRA=<mirror base URL>');
      expect(unreachable.executed).not.toContain('_image_build:app');

      // A repository name the packages file does not declare.
      writeFileSync(
        join(root, 'images/app/image.yaml'),
        definition('/usr/bin/app').replace('repositories: [os,', 'repositories: [updates,'),
      );
      const undeclared = await runEngine(root, metalk8sTasks(root, online), ['images']);
      expect(failures(undeclared).join('\n')).toContain(
        `${join(root, 'images/app/image.yaml')}: layers[0].repositories[0]: "updates" is not a repository of ${join(root, 'packages-rpm/packages.yaml')}`,
      );
    },
  );

  it("declares the project's own images validly: 21 remote images (prometheus v2.12.0 by tag), local definitions whose repositories exist, salt-master from its Dockerfile, the product's two", () => {
    const config = loadConfig(PROJECT_ROOT, { METALK8S_SOURCE: 'https://github.com/scality/metalk8s.git' });
    // The product's version fills `@@VERSION` when a version is read, not when the list is.
    let version = '2.4.1';
    const versionValues = () => ({ VERSION: version });
    const declarations = loadImageDeclarations(config.imagesFile, { versionValues });
    expect(declarations.remote).toHaveLength(21);
    // The version 2.4.1's formula deploys, declared by tag (its lock entry, once recorded, pins it).
    expect(
      declarations.remote.filter((image) => image.pin !== 'declared').map((image) => `${image.name}:${image.version}`),
    ).toEqual(['prometheus:v2.12.0']);
    expect(declarations.lockFile).toBe(join(PROJECT_ROOT, 'images/images.lock.yaml'));
    expect(declarations.local.map((image) => `${image.name}:${image.version}:${image.kind}`)).toEqual([
      'salt-master:2018.3.4-1:dockerfile',
      'keepalived:1.3.5-16.el7-1:spec',
      'metalk8s-utils:2.4.1:spec',
    ]);
    // Upstream's versions.py: the UI at the product's version, the operator at latest.
    const withProduct = loadImageDeclarations(config.imagesFile, { productTree: config.product!.tree, versionValues });
    expect(
      withProduct.local.filter((image) => image.fromProduct).map((image) => `${image.name}:${image.version}`),
    ).toEqual(['metalk8s-ui:2.4.1', 'storage-operator:latest']);
    version = '2.4.1+build';
    expect(() => withProduct.local[2]!.version).toThrow(
      `${config.imagesFile}: local[2] (metalk8s-utils).version "@@VERSION" gives "2.4.1+build", not an image tag`,
    );
    // Without values, the list loads (its remote images serve) and such a version is an error when read.
    expect(() => loadImageDeclarations(config.imagesFile).local[2]!.version).toThrow(
      `${config.imagesFile}: local[2] (metalk8s-utils).version "@@VERSION": @@ names are for a build's IMAGES_FILE, whose values it knows`,
    );
    // With the product source: its UI and operator, their paths in its unpacked tree.
    const product = declaredImages(config).local.filter((image) => image.fromProduct);
    expect(product.map((image) => [image.name, image.definition, image.context])).toEqual([
      ['metalk8s-ui', join(config.product!.tree, 'ui/Dockerfile'), join(config.product!.tree, 'ui')],
      [
        'storage-operator',
        join(config.product!.tree, 'storage-operator/build/Dockerfile'),
        join(config.product!.tree, 'storage-operator'),
      ],
    ]);
    expect(product[1]!.compile).toMatchObject({
      builder: join(config.product!.tree, 'storage-operator/Dockerfile'),
      output: 'build/_output',
      from: expect.stringMatching(/^docker\.io\/library\/golang@sha256:[0-9a-f]{64}$/),
    });
    expect(declarations.remote.find((image) => image.name === 'pause')!.archive).toBe(
      'salt/metalk8s/container-engine/containerd/files',
    );
    expect(declarations.local[0]!.buildArgs).toEqual({ SALT_VERSION: '2018.3.4' });
    const workspace = new PackageWorkspace({
      packagesFile: config.packagesFile,
      buildRoot: tempDir(),
      mirrors: new Map(),
    });
    for (const image of declarations.local.filter((entry) => entry.kind === 'spec')) {
      const spec = loadBuildSpec(image.definition);
      expect(spec.base?.digest, image.name).toMatch(/^sha256:[0-9a-f]{64}$/);
      // Resolving their inputs names every repository: an undeclared one would throw here.
      expect(layerPackagesOf(spec, image.name, workspace, { jobs: 1 })!.inputs(), image.name).toMatch(/^sha256:/);
    }
  });

  it('refuses an archive folder or a product path outside the tree, naming the entry', () => {
    const file = join(tempDir(), 'images.yaml');
    const pause = '{name: pause, image: k8s.gcr.io/pause, version: "3.1", digest: "sha256:' + '0'.repeat(64) + '"';
    writeFileSync(file, `remote:\n  - ${pause}, archive: ../../etc}\n`);
    expect(() => loadImageDeclarations(file)).toThrow(
      `${file}:2: remote[0] (pause).archive must be true, false, or a folder of the ISO (salt/metalk8s/...), not "../../etc"`,
    );
    writeFileSync(file, 'local:\n  - {name: ui, version: "1", definition: "product:../ui/Dockerfile"}\n');
    expect(() => loadImageDeclarations(file, { productTree: '/srv/product' })).toThrow(
      `${file}: local[0] (ui).definition: product:../ui/Dockerfile leaves the product source`,
    );
    // Without a product source (METALK8S_SOURCE=none), the product's images are not built.
    expect(loadImageDeclarations(file).local).toEqual([]);
  });

  it('names the file and entry of a bad declaration', async () => {
    const root = project({
      'images/images.yaml':
        'remote:\n  - {name: prometheus, image: quay.io/prometheus/prometheus, version: "v2.12.0", digest: "sha256:cd93b8711bb92eb9c437d74217311519e0a93bc55779aa664325dc83cd13cb3"}\n',
    });
    const report = await runEngine(root, metalk8sTasks(root), ['images']);
    expect(report.summary?.ok).toBe(false);
    expect(report.finished.map((r) => r.error ?? '').join('\n')).toMatch(
      /images\.yaml:2: remote\[0\] \(prometheus\)\.digest must be a sha256 digest "sha256:<64 hex digits>", not "sha256:cd93/,
    );
  });
});

describe('images declared by tag only (images.lock.yaml)', () => {
  const failures = (report: Awaited<ReturnType<typeof runEngine>>) =>
    report.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`);
  const byTag = 'remote:\n  - {name: prometheus, image: quay.io/prometheus/prometheus, version: "v2.12.0"}\n';

  it('records the digest on the first build, then pulls by digest only; a tampered lock or a moved tag names the image and both digests', async () => {
    const registry = await startRegistry();
    const proxy = await startProxy(registry.host, {});
    const digest = await pushImage(
      registry.host,
      'prometheus/prometheus',
      'v2.12.0',
      imageOf([await randomLayer('prometheus', 20_000)]),
    );
    const root = project({ 'images/images.yaml': byTag });
    const env = { REGISTRY_MIRRORS: `quay.io=${proxy.host}` };
    const lockFile = join(root, 'images/images.lock.yaml');
    const first = await runEngine(root, metalk8sTasks(root, env), ['images']);
    expect(failures(first)).toEqual([]);
    expect(first.finished.find((r) => r.name === '_image_lock')!.out).toContain(
      `prometheus quay.io/prometheus/prometheus:v2.12.0: recorded ${digest} in images/images.lock.yaml (commit it)`,
    );
    expect(loadImageDeclarations(join(root, 'images/images.yaml')).remote[0]).toMatchObject({
      pin: 'locked',
      source: { registry: 'quay.io', repository: 'prometheus/prometheus', tag: 'v2.12.0', digest },
    });
    expect(readFileSync(lockFile, 'utf8')).toContain(
      `  - name: prometheus\n    image: quay.io/prometheus/prometheus\n    version: "v2.12.0"\n    digest: ${digest}\n`,
    );
    const layout = join(root, '_build/root/images/prometheus/v2.12.0');
    expect(sha256Digest(readFileSync(join(layout, 'manifest.json')))).toBe(digest);
    expect(proxy.requests.filter((r) => r.url.endsWith('/manifests/v2.12.0')).length).toBe(1);
    expect((await runEngine(root, metalk8sTasks(root, env), ['images'])).executed).toEqual([]);

    // Another machine with the committed lock and an empty store: by digest, the tag never asked.
    const fresh = () => {
      for (const dir of ['_build/root', '_build/cache/blobs'])
        rmSync(join(root, dir), { recursive: true, force: true });
      proxy.requests.length = 0;
    };
    fresh();
    const second = await runEngine(root, metalk8sTasks(root, env), ['images']);
    expect(failures(second)).toEqual([]);
    expect(second.executed).not.toContain('_image_lock');
    expect(proxy.requests.filter((r) => r.url.includes('/manifests/')).map((r) => r.url)).toEqual([
      `/v2/prometheus/prometheus/manifests/${digest}`,
    ]);
    expect(sha256Digest(readFileSync(join(layout, 'manifest.json')))).toBe(digest);

    // A lock whose digest the registry does not serve under that tag.
    const tampered = `sha256:${'1'.repeat(64)}`;
    writeFileSync(lockFile, readFileSync(lockFile, 'utf8').replace(digest, tampered));
    fresh();
    const bad = await runEngine(root, metalk8sTasks(root, env), ['images']);
    expect(failures(bad)).toEqual([
      `_image_pull:prometheus: ${lockFile}: prometheus v2.12.0 is locked to ${tampered}, but quay.io/prometheus/prometheus:v2.12.0 is now ${digest}; if the tag was moved on purpose, delete its entry and run ./build.ts image_lock`,
    ]);

    // image_lock asks every tag again: one moved since it was locked is refused, not re-pinned.
    writeFileSync(lockFile, readFileSync(lockFile, 'utf8').replace(tampered, digest));
    const moved = await pushImage(
      registry.host,
      'prometheus/prometheus',
      'v2.12.0',
      imageOf([await randomLayer('prometheus', 20_000)]),
    );
    const refresh = await runEngine(root, metalk8sTasks(root, env), ['image_lock']);
    expect(failures(refresh)).toEqual([
      `image_lock: ${lockFile}: prometheus v2.12.0 is locked to ${digest}, but quay.io/prometheus/prometheus:v2.12.0 is now ${moved}; if the tag was moved on purpose, delete its entry and run ./build.ts image_lock`,
    ]);
    expect(readFileSync(lockFile, 'utf8')).toContain(digest);
    rmSync(lockFile);
    expect(failures(await runEngine(root, metalk8sTasks(root, env), ['image_lock']))).toEqual([]);
    expect(readFileSync(lockFile, 'utf8')).toContain(`digest: ${moved}\n`);
  });

  it('names the image and REGISTRY_MIRRORS when a tag the lock lacks cannot be asked; a declared digest wins over the lock', async () => {
    const root = project({ 'images/images.yaml': byTag });
    const down = await runEngine(
      root,
      metalk8sTasks(root, { REGISTRY_MIRRORS: `quay.io=127.0.0.1:${await freePort()}` }),
      ['images'],
    );
    const check = down.finished.find((r) => r.name === '_image_check_sources')!;
    expect(check.error).toContain(
      'prometheus v2.12.0: declared by tag only, not in images/images.lock.yaml; its registry must answer once to record the digest',
    );
    expect(check.settings).toEqual(['REGISTRY_MIRRORS=quay.io=<mirror host:port>']);

    const declared = `sha256:${'2'.repeat(64)}`;
    writeFileSync(
      join(root, 'images/images.lock.yaml'),
      `images:\n  - {name: prometheus, image: quay.io/prometheus/prometheus, version: "v2.12.0", digest: "sha256:${'3'.repeat(64)}"}\n`,
    );
    writeFileSync(join(root, 'images/images.yaml'), byTag.replace('"v2.12.0"', `"v2.12.0", digest: "${declared}"`));
    expect(loadImageDeclarations(join(root, 'images/images.yaml')).remote[0]).toMatchObject({
      pin: 'declared',
      source: { digest: declared },
    });
    // A malformed lock is named with its line, entry and field (images-lock.schema.json).
    writeFileSync(join(root, 'images/images.yaml'), byTag);
    writeFileSync(
      join(root, 'images/images.lock.yaml'),
      'images:\n  - {name: prometheus, image: quay.io/prometheus/prometheus, version: "v2.12.0", digest: "sha256:abc"}\n',
    );
    expect(() => loadImageDeclarations(join(root, 'images/images.yaml'))).toThrow(
      `${join(root, 'images/images.lock.yaml')}:2: images[0] (prometheus).digest must be sha256: and 64 lowercase hex digits, not "sha256:abc"`,
    );
  });
});
