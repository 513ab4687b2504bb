// The generated configuration served by real nginx and pulled by real skopeo; HEAD, Range and
// error answers checked over HTTP; Solution templates rendered by Jinja as Salt renders them.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sha256Digest } from '../buildchain/store/sha256.ts';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../buildchain/oci/media-types.ts';
import { requireTool, runCli, tempDir } from '../test/helpers.ts';
import { renderJinja } from '../test/jinja.ts';
import { startContainerd, startNginx } from '../test/servers-for-tests.ts';
import { dirLayout, imageOf, indexOf, randomLayer, type FixtureImage } from '../test/registry.ts';
import { registryConfigFor } from './index.ts';

const run = promisify(execFile);

interface Tree {
  root: string;
  nginx: string;
  deep: string;
  multi: string;
  multiChildren: string[];
}

/**
 * ROOT/nginx/{1.15.8,latest} (one Docker v2s2 manifest under two tags), ROOT/some/deep/image/2.0
 * (OCI, a name with slashes, one layer shared with nginx), ROOT/multi/1.0 (an OCI index of
 * amd64 and arm64), and an image tarball beside them as upstream leaves one.
 */
async function tree(): Promise<Tree> {
  const root = join(tempDir('mk8s-static-'), 'images');
  const shared = await randomLayer('shared', 64 << 10);
  const image = async (name: string, layers: number, arch = 'amd64'): Promise<FixtureImage> =>
    imageOf(
      [
        ...(name === 'multi' ? [] : [shared]),
        ...(await Promise.all(Array.from({ length: layers }, (_, i) => randomLayer(`${name}${arch}${i}`, 16 << 10)))),
      ],
      arch,
      name,
    );
  for (const dir of ['nginx', 'some/deep/image', 'multi']) mkdirSync(join(root, dir), { recursive: true });
  const nginx = await dirLayout(join(root, 'nginx', '1.15.8'), await image('nginx', 1), 'v2s2');
  cpSync(join(root, 'nginx', '1.15.8'), join(root, 'nginx', 'latest'), { recursive: true });
  const deep = await dirLayout(join(root, 'some/deep/image/2.0'), await image('deep', 2));
  const children = [await image('multi', 1, 'amd64'), await image('multi', 1, 'arm64')];
  const multi = await dirLayout(join(root, 'multi', '1.0'), { index: indexOf(children), images: children });
  writeFileSync(join(root, 'nginx-1.15.8.tar'), 'an image archive, not a layout');
  return { root, nginx, deep, multi, multiChildren: children.map((child) => child.manifest.digest) };
}

/** What an including server block may enable, and that the generated locations must undo. */
const HOSTILE_SERVER = [
  'gzip on; gzip_types *; gzip_min_length 0; gzip_proxied any;',
  'charset utf-8; charset_types *;',
  'add_header X-Served-By metalk8s;',
].join('\n');

/** The tree, its configuration with `namePrefix`, served by nginx inside HOSTILE_SERVER. */
async function served(namePrefix: string) {
  const images = await tree();
  const configFile = join(images.root, '..', 'registry.conf');
  writeFileSync(configFile, registryConfigFor(images.root, { namePrefix }));
  return { images, nginx: await startNginx(`${HOSTILE_SERVER}\ninclude ${configFile};`) };
}

async function skopeoCopy(source: string, destination: string, all = false): Promise<void> {
  await run(requireTool('skopeo'), [
    '--insecure-policy',
    'copy',
    '--src-tls-verify=false',
    ...(all ? ['--all'] : []),
    source,
    `dir:${destination}`,
  ]);
}

/** Every file of a `dir:` layout but `version`, by name, as bytes' digests. */
function layoutContent(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .filter((name) => name !== 'version')
      .sort()
      .map((name) => [name, sha256Digest(readFileSync(join(dir, name)))]),
  );
}

describe('static registry served by real nginx', () => {
  it('lets skopeo pull every image by tag and by digest, byte for byte', { timeout: 120_000 }, async () => {
    const { images, nginx } = await served('/metalk8s-2.4.1/');
    const out = tempDir('mk8s-pulled-');
    const base = `docker://${nginx.host}/metalk8s-2.4.1`;
    const cases: [string, string, string, boolean][] = [
      [`${base}/nginx:1.15.8`, 'nginx/1.15.8', images.nginx, false],
      [`${base}/nginx:latest`, 'nginx/latest', images.nginx, false],
      [`${base}/nginx@${images.nginx}`, 'nginx/1.15.8', images.nginx, false],
      [`${base}/some/deep/image:2.0`, 'some/deep/image/2.0', images.deep, false],
      [`${base}/some/deep/image@${images.deep}`, 'some/deep/image/2.0', images.deep, false],
      [`${base}/multi:1.0`, 'multi/1.0', images.multi, true],
      [`${base}/multi@${images.multi}`, 'multi/1.0', images.multi, true],
    ];
    for (const [index, [source, layout, digest, all]] of cases.entries()) {
      const target = join(out, String(index));
      await skopeoCopy(source, target, all);
      expect(sha256Digest(readFileSync(join(target, 'manifest.json'))), source).toBe(digest);
      expect(layoutContent(target), source).toEqual(layoutContent(join(images.root, layout)));
    }
    // A child of the index, by its own digest (what a client does after choosing a platform).
    const arm = images.multiChildren[1]!;
    await skopeoCopy(`${base}/multi@${arm}`, join(out, 'arm'));
    expect(sha256Digest(readFileSync(join(out, 'arm', 'manifest.json')))).toBe(arm);

    const { stdout } = await run(requireTool('skopeo'), ['list-tags', '--tls-verify=false', `${base}/nginx`]);
    expect(JSON.parse(stdout)).toEqual({
      Repository: `${nginx.host}/metalk8s-2.4.1/nginx`,
      Tags: ['1.15.8', 'latest'],
    });
    expect(nginx.log()).not.toMatch(/\[(error|crit|emerg)\]/);
  });

  it('lets containerd pull and unpack every image by tag and by digest', { timeout: 120_000 }, async () => {
    const { images, nginx } = await served('metalk8s-2.4.1');
    const containerd = await startContainerd();
    const ctr = (...args: string[]) => run(requireTool('ctr'), ['--address', containerd.address, ...args]);
    const base = `${nginx.host}/metalk8s-2.4.1`;
    // containerd resolves with HEAD, picks linux/amd64 in the index, fetches and unpacks layers.
    const refs: [string, string][] = [
      [`${base}/nginx:1.15.8`, images.nginx],
      [`${base}/nginx@${images.nginx}`, images.nginx],
      [`${base}/some/deep/image:2.0`, images.deep],
      [`${base}/multi:1.0`, images.multi],
      [`${base}/multi@${images.multiChildren[1]!}`, images.multiChildren[1]!],
    ];
    for (const [ref] of refs)
      await ctr(
        'images',
        'pull',
        '--plain-http',
        ...(ref.includes('@') && ref.includes('multi') ? ['--platform', 'linux/arm64'] : []),
        ref,
      );
    const { stdout } = await ctr('images', 'ls', '--quiet');
    expect(stdout.trim().split('\n').sort()).toEqual(refs.map(([ref]) => ref).sort());
    for (const [ref, digest] of refs) {
      const { stdout: info } = await ctr('images', 'ls', `name==${ref}`);
      expect(info, ref).toContain(digest);
    }
    expect(nginx.log()).not.toMatch(/\[(error|crit|emerg)\]/);
  });

  it('answers HEAD, Range and unknown references as the distribution spec says', { timeout: 60_000 }, async () => {
    const { images, nginx } = await served('metalk8s-2.4.1');
    const url = (path: string) => `http://${nginx.host}${path}`;
    const request = (path: string, init: RequestInit = {}) =>
      fetch(url(path), { redirect: 'manual', ...init, headers: { 'accept-encoding': 'gzip', ...init.headers } });

    const ping = await request('/v2/');
    expect(ping.status).toBe(200);
    expect(ping.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    const redirect = await request('/v2');
    expect([redirect.status, new URL(redirect.headers.get('location')!, url('/')).pathname]).toEqual([301, '/v2/']);

    const manifests: [string, string, string][] = [
      ['nginx/1.15.8', `/v2/metalk8s-2.4.1/nginx/manifests/1.15.8`, DOCKER_MANIFEST],
      ['nginx/1.15.8', `/v2/metalk8s-2.4.1/nginx/manifests/${images.nginx}`, DOCKER_MANIFEST],
      ['some/deep/image/2.0', `/v2/metalk8s-2.4.1/some/deep/image/manifests/2.0`, OCI_MANIFEST],
      ['multi/1.0', `/v2/metalk8s-2.4.1/multi/manifests/1.0`, OCI_INDEX],
    ];
    for (const [layout, path, mediaType] of manifests) {
      const bytes = readFileSync(join(images.root, layout, 'manifest.json'));
      for (const method of ['HEAD', 'GET']) {
        const answer = await request(path, { method });
        expect(
          [
            answer.status,
            answer.headers.get('content-type'),
            answer.headers.get('docker-content-digest'),
            answer.headers.get('content-length'),
            answer.headers.get('content-encoding'),
          ],
          `${method} ${path}`,
        ).toEqual([200, mediaType, sha256Digest(bytes), String(bytes.length), null]);
        if (method === 'GET') expect(Buffer.from(await answer.arrayBuffer()).equals(bytes)).toBe(true);
      }
    }
    const arm = images.multiChildren[1]!;
    const child = await request(`/v2/metalk8s-2.4.1/multi/manifests/${arm}`, { method: 'HEAD' });
    expect([child.status, child.headers.get('content-type'), child.headers.get('docker-content-digest')]).toEqual([
      200,
      OCI_MANIFEST,
      arm,
    ]);

    // The layer nginx shares with some/deep/image, from either repository.
    const manifest = JSON.parse(readFileSync(join(images.root, 'nginx/1.15.8/manifest.json'), 'utf8')) as {
      layers: { digest: string; size: number }[];
    };
    const layer = manifest.layers[0]!;
    const layerBytes = readFileSync(join(images.root, 'nginx/1.15.8', layer.digest.slice(7)));
    for (const repository of ['nginx', 'some/deep/image']) {
      const head = await request(`/v2/metalk8s-2.4.1/${repository}/blobs/${layer.digest}`, { method: 'HEAD' });
      expect([
        head.status,
        head.headers.get('content-length'),
        head.headers.get('docker-content-digest'),
        head.headers.get('content-type'),
      ]).toEqual([200, String(layer.size), layer.digest, 'application/octet-stream']);
    }
    const range = await request(`/v2/metalk8s-2.4.1/nginx/blobs/${layer.digest}`, {
      headers: { range: 'bytes=100-199' },
    });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(layerBytes.subarray(100, 200))).toBe(true);

    const tags = await request('/v2/metalk8s-2.4.1/nginx/tags/list');
    expect(await tags.json()).toEqual({ name: 'metalk8s-2.4.1/nginx', tags: ['1.15.8', 'latest'] });

    const missing = '0'.repeat(64);
    const errors: [string, string][] = [
      ['/v2/metalk8s-2.4.1/nginx/manifests/1.0.0', 'MANIFEST_UNKNOWN'],
      [`/v2/metalk8s-2.4.1/nginx/manifests/sha256:${missing}`, 'MANIFEST_UNKNOWN'],
      [`/v2/metalk8s-2.4.1/nginx/blobs/sha256:${missing}`, 'BLOB_UNKNOWN'],
      // A blob of another repository is not served under this one.
      [`/v2/metalk8s-2.4.1/multi/blobs/${layer.digest}`, 'BLOB_UNKNOWN'],
      ['/v2/metalk8s-2.4.1/unknown/manifests/1.0', 'NAME_UNKNOWN'],
      ['/v2/nginx/manifests/1.15.8', 'NAME_UNKNOWN'],
    ];
    for (const [path, code] of errors) {
      const answer = await request(path);
      expect([answer.status, answer.headers.get('content-type')], path).toEqual([404, 'application/json']);
      expect(((await answer.json()) as { errors: { code: string }[] }).errors[0]!.code, path).toBe(code);
    }
  });

  it(
    'serves a Solution from the templated output once Jinja renders it, as Salt does',
    { timeout: 60_000 },
    async () => {
      const images = await tree();
      const cli = ['registry-config', '--name-prefix', '{{ repository }}', '--server-root', '{{ registry_root }}'];
      const templated = await runCli([...cli, '--omit-constants', images.root], { entry: 'toolkit.ts' });
      expect(templated.code, templated.stderr).toBe(0);
      expect(templated.stdout).not.toContain(images.root);
      expect(templated.stdout).not.toContain('location = /v2/ ');
      const constants = await runCli(['registry-config', '--only-constants'], { entry: 'toolkit.ts' });
      expect(constants.stdout).not.toContain('/manifests/');

      const dir = join(images.root, '..');
      writeFileSync(join(dir, 'common.inc'), constants.stdout);
      writeFileSync(
        join(dir, 'solution.inc'),
        renderJinja(templated.stdout, { repository: 'example-solution-1.0.0', registry_root: images.root }),
      );
      const nginx = await startNginx(`include ${join(dir, 'common.inc')};\ninclude ${join(dir, 'solution.inc')};`);
      const target = join(tempDir('mk8s-pulled-'), 'deep');
      await skopeoCopy(`docker://${nginx.host}/example-solution-1.0.0/some/deep/image:2.0`, target);
      expect(layoutContent(target)).toEqual(layoutContent(join(images.root, 'some/deep/image/2.0')));
    },
  );
});

describe('registry configuration', () => {
  it('is deterministic and serves each digest once', async () => {
    const images = await tree();
    const first = registryConfigFor(images.root, { namePrefix: 'metalk8s-2.4.1' });
    expect(registryConfigFor(images.root, { namePrefix: 'metalk8s-2.4.1' })).toBe(first);
    // nginx/1.15.8 and nginx/latest: two tag locations, one digest location.
    expect(first.match(new RegExp(`manifests/${images.nginx}"`, 'g'))).toHaveLength(1);
    expect(first.indexOf('/nginx/manifests/1.15.8"')).toBeLessThan(first.indexOf('/nginx/manifests/latest"'));
    expect(first.indexOf('# metalk8s-2.4.1/multi:')).toBeLessThan(first.indexOf('# metalk8s-2.4.1/nginx:'));
    expect(first).not.toContain('nginx-1.15.8.tar');
  });

  it('names the file of a layout that is not an image, and the bad option', async () => {
    const images = await tree();
    const fail = (message: RegExp) => expect(() => registryConfigFor(images.root)).toThrow(message);
    const deep = join(images.root, 'some/deep/image/2.0');
    const manifest = JSON.parse(readFileSync(join(deep, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
    const layer = join(deep, manifest.layers[1]!.digest.slice(7));
    const saved = readFileSync(layer);
    rmSync(layer);
    fail(new RegExp(`${layer}: missing blob`));
    writeFileSync(layer, saved);

    mkdirSync(join(images.root, 'empty'));
    fail(new RegExp(`${join(images.root, 'empty')}: neither an image layout`));
    rmSync(join(images.root, 'empty'), { recursive: true });

    cpSync(join(images.root, 'nginx', 'latest'), join(images.root, 'stray'), { recursive: true });
    fail(/stray: an image layout directly under/);
    rmSync(join(images.root, 'stray'), { recursive: true });

    mkdirSync(join(images.root, 'Nginx'));
    cpSync(join(images.root, 'nginx', 'latest'), join(images.root, 'Nginx', '1.0'), { recursive: true });
    fail(/Nginx\/1\.0: "Nginx" is not a valid repository name component/);
    rmSync(join(images.root, 'Nginx'), { recursive: true });

    writeFileSync(join(images.root, 'nginx', 'latest', 'manifest.json'), '{"schemaVersion": 1}');
    fail(new RegExp(`${join(images.root, 'nginx', 'latest', 'manifest.json')}: schemaVersion 1 is not supported`));

    const both = await runCli(['registry-config', '--omit-constants', '--only-constants'], { entry: 'toolkit.ts' });
    expect([both.code, both.stderr]).toEqual([
      2,
      expect.stringContaining('--omit-constants and --only-constants exclude each other'),
    ]);
    const absent = await runCli(['registry-config', join(images.root, '..', 'none')], { entry: 'toolkit.ts' });
    expect([absent.code, absent.stderr]).toEqual([
      1,
      expect.stringContaining(`${join(images.root, '..', 'none')}: cannot read the images directory`),
    ]);
    writeFileSync(
      join(images.root, 'nginx', 'latest', 'manifest.json'),
      readFileSync(join(images.root, 'nginx', '1.15.8', 'manifest.json')),
    );
    const quoted = await runCli(['registry-config', '--server-root', '/srv/"x"', images.root], { entry: 'toolkit.ts' });
    expect([quoted.code, quoted.stderr]).toEqual([1, expect.stringContaining('server root "/srv/\\"x\\"": quotes')]);
  });
});
