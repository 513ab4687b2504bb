// Pulling from a real registry (docker-registry on 127.0.0.1, seeded by skopeo), through a proxy
// that asks for credentials or breaks transfers; layouts are then read by real skopeo.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool, runCli, tempDir } from '../../test/helpers.ts';
import { imageOf, indexOf, pushImage, randomLayer, startProxy, startRegistry } from '../../test/registry.ts';
import { DigestMismatchError } from '../store/sha256.ts';
import { layoutFiles, readDirLayout, writeDirLayout } from './layout.ts';
import { ImagePuller } from './puller.ts';
import { parseReference } from './reference.ts';
import { BlobStore } from '../store/blob-store.ts';

const run = promisify(execFile);
const signal = new AbortController().signal;

function puller(
  registryHost: string,
  options: { credentials?: Record<string, { username: string; password: string }> } = {},
) {
  const store = new BlobStore(tempDir('mk8s-store-'));
  return new ImagePuller({
    store,
    retryDelayMs: 10,
    // Images are declared as if from quay.io; the mirror answers for it, as REGISTRY_MIRRORS says.
    mirrors: new Map([['quay.io', registryHost]]),
    credentials: (host) => options.credentials?.[host],
  });
}

async function skopeoInspect(dir: string): Promise<{ Digest: string; Layers: string[] }> {
  const { stdout } = await run(requireTool('skopeo'), ['inspect', `dir:${dir}`]);
  return JSON.parse(stdout) as { Digest: string; Layers: string[] };
}

describe('pulling images by digest', () => {
  it('lays out OCI and v2s2 images that skopeo reads, with the registry digests, shared layers fetched once', async () => {
    const registry = await startRegistry();
    const shared = await randomLayer('shared.bin', 300_000);
    const first = imageOf([shared, await randomLayer('a.bin', 50_000)], 'amd64', 'first');
    const second = imageOf([shared, await randomLayer('b.bin', 70_000)], 'amd64', 'second');
    const ociDigest = await pushImage(registry.host, 'test/first', '1.0', first);
    const v2Digest = await pushImage(registry.host, 'test/second', '2.0', second, 'v2s2');
    expect(ociDigest).toBe(first.manifest.digest);
    const proxy = await startProxy(registry.host, {});
    const pulling = puller(proxy.host);
    const [a, b] = await Promise.all([
      pulling.pull({ registry: 'quay.io', repository: 'test/first', digest: ociDigest }, { describe: 'first', signal }),
      pulling.pull(
        { registry: 'quay.io', repository: 'test/second', digest: v2Digest },
        { describe: 'second', signal },
      ),
    ]);
    expect(a.top.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(b.top.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const sharedGets = proxy.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${shared.digest}`));
    expect(sharedGets).toHaveLength(1);

    const out = tempDir();
    await writeDirLayout(pulling.options.store, a, join(out, 'first/1.0'));
    await writeDirLayout(pulling.options.store, b, join(out, 'second/2.0'));
    expect(readdirSync(join(out, 'first/1.0')).sort()).toEqual(layoutFiles(a).sort());
    expect(readFileSync(join(out, 'first/1.0/version'), 'utf8')).toBe('Directory Transport Version: 1.1\n');
    // One inode for the layer both images have: the ISO stores it once.
    const hex = shared.digest.slice(7);
    expect(statSync(join(out, 'first/1.0', hex)).ino).toBe(statSync(join(out, 'second/2.0', hex)).ino);
    expect(statSync(join(out, 'first/1.0', hex)).nlink).toBe(3);

    expect((await skopeoInspect(join(out, 'first/1.0'))).Digest).toBe(ociDigest);
    expect((await skopeoInspect(join(out, 'second/2.0'))).Digest).toBe(v2Digest);
    const oci = join(tempDir(), 'oci');
    await run(requireTool('skopeo'), ['--insecure-policy', 'copy', `dir:${join(out, 'second/2.0')}`, `oci:${oci}:x`]);
    expect(readDirLayout(join(out, 'second/2.0')).blobs.size).toBe(3);

    // Everything is in the store: a second pull asks the registry nothing.
    const before = proxy.requests.length;
    await pulling.pull(
      { registry: 'quay.io', repository: 'test/first', digest: ociDigest },
      { describe: 'first', signal },
    );
    expect(proxy.requests.length).toBe(before);
  });

  it('keeps an index pinned by digest and the platform manifest it chose', async () => {
    const registry = await startRegistry();
    const amd64 = imageOf([await randomLayer('amd64.bin', 20_000)], 'amd64');
    const arm64 = imageOf([await randomLayer('arm64.bin', 20_000)], 'arm64');
    const index = indexOf([amd64, arm64]);
    const digest = await pushImage(registry.host, 'multi/arch', '1', { index, images: [amd64, arm64] });
    expect(digest).toBe(index.digest);
    const pulling = puller(registry.host);
    const pulled = await pulling.pull(
      { registry: 'quay.io', repository: 'multi/arch', digest },
      { describe: 'multi', signal },
    );
    expect(pulled.child?.digest).toBe(amd64.manifest.digest);
    const dir = join(tempDir(), 'multi');
    await writeDirLayout(pulling.options.store, pulled, dir);
    expect(readFileSync(join(dir, 'manifest.json'))).toEqual(index.bytes);
    // skopeo reads the index, picks linux/amd64 from <hex>.manifest.json, reports the pinned digest.
    const inspected = await skopeoInspect(dir);
    expect(inspected.Digest).toBe(index.digest);
    expect(inspected.Layers).toEqual([amd64.layers[0]!.digest]);

    await expect(
      pulling.pull(
        { registry: 'quay.io', repository: 'multi/arch', digest },
        { describe: 'multi', signal, platform: { os: 'linux', architecture: 's390x' } },
      ),
    ).rejects.toThrow(/multi .*no manifest for linux\/s390x in the index \(it has: linux\/amd64, linux\/arm64\)/);
  });

  it('authenticates with Basic credentials and with a Bearer token; says which credentials are missing', async () => {
    const registry = await startRegistry();
    const basicDigest = await pushImage(
      registry.host,
      'private/basic',
      '1',
      imageOf([await randomLayer('x.bin', 10_000)]),
    );
    const bearerDigest = await pushImage(
      registry.host,
      'private/bearer',
      '1',
      imageOf([await randomLayer('y.bin', 10_000)]),
    );
    const auth = { username: 'release', password: 's3cret' };
    const proxy = await startProxy(registry.host, {
      basic: { repository: 'private/basic', ...auth },
      bearer: { repository: 'private/bearer', ...auth },
    });
    const anonymous = puller(proxy.host);
    await expect(
      anonymous.pull(
        { registry: 'quay.io', repository: 'private/basic', digest: basicDigest },
        { describe: 'basic', signal },
      ),
    ).rejects.toThrow(/quay\.io requires credentials; add them with `skopeo login`/);
    await expect(
      anonymous.pull(
        { registry: 'quay.io', repository: 'private/bearer', digest: bearerDigest },
        { describe: 'bearer', signal },
      ),
    ).rejects.toThrow(/\/v2\/private\/bearer\/manifests\/.*quay\.io requires credentials/);

    const withCredentials = puller(proxy.host, { credentials: { [proxy.host]: auth } });
    await withCredentials.pull(
      { registry: 'quay.io', repository: 'private/basic', digest: basicDigest },
      { describe: 'basic', signal },
    );
    await withCredentials.pull(
      { registry: 'quay.io', repository: 'private/bearer', digest: bearerDigest },
      { describe: 'bearer', signal },
    );
    expect(proxy.requests.filter((r) => r.url.startsWith('/token') && r.status === 200)).toHaveLength(1);
  });

  it('resumes a blob cut mid-way with Range, retries 503s, and rejects corrupt bytes naming digest and URL', async () => {
    const registry = await startRegistry();
    const big = await randomLayer('big.bin', 2_000_000);
    const image = imageOf([big]);
    const digest = await pushImage(registry.host, 'faulty/image', '1', image);

    const cutting = await startProxy(registry.host, {
      cut: { digest: big.digest, after: 700_000, times: 2 },
      unavailable: 2,
    });
    const resumed = puller(cutting.host);
    await resumed.pull({ registry: 'quay.io', repository: 'faulty/image', digest }, { describe: 'faulty', signal });
    // Each attempt asks only for what is not on disk yet (what was written before the cut).
    const gets = cutting.requests.filter((r) => r.url.endsWith(`/blobs/${big.digest}`) && r.status !== 503);
    const offsets = gets.map((r) => Number(/^bytes=(\d+)-$/.exec(r.range ?? 'bytes=0-')?.[1]));
    expect(offsets).toHaveLength(3);
    expect(offsets[0]).toBe(0);
    expect(offsets[1]).toBeGreaterThan(0);
    expect(offsets[2]).toBeGreaterThan(offsets[1]!);
    expect(cutting.requests.filter((r) => r.status === 503)).toHaveLength(2);
    expect(readFileSync(resumed.options.store.path(big.digest)).equals(big.bytes)).toBe(true);

    const flipping = await startProxy(registry.host, { flip: { digest: big.digest } });
    const corrupt = puller(flipping.host);
    const error = await corrupt
      .pull({ registry: 'quay.io', repository: 'faulty/image', digest }, { describe: 'faulty', signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect(String(error)).toContain(
      `faulty: blob ${big.digest} from http://${flipping.host}/v2/faulty/image/blobs/${big.digest}: digest mismatch`,
    );
    // Nothing corrupt stays: neither in the store nor as a partial to resume from.
    const store = corrupt.options.store;
    expect(existsSync(store.path(big.digest))).toBe(false);
    expect(readdirSync(join(store.root, 'ingest'))).toEqual([]);
  });

  it('refuses a manifest whose bytes do not have the pinned digest, and names unreachable registries', async () => {
    const registry = await startRegistry();
    const image = imageOf([await randomLayer('y.bin', 1000)]);
    await pushImage(registry.host, 'pinned/image', '1', image);
    const pulling = puller(registry.host);
    const wrong = `sha256:${'0'.repeat(64)}`;
    await expect(
      pulling.pull({ registry: 'quay.io', repository: 'pinned/image', digest: wrong }, { describe: 'pinned', signal }),
    ).rejects.toThrow(
      /\/v2\/pinned\/image\/manifests\/sha256:0+: manifest pinned\/image@sha256:0+ answered HTTP 404 \(MANIFEST_UNKNOWN/,
    );

    const started = Date.now();
    const missing = await pulling.unreachable(['quay.io', 'k8s.gcr.io'], 3000);
    expect(missing.map((entry) => entry.registry)).toEqual(['k8s.gcr.io']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('parses references as docker does and rejects bad ones by name', () => {
    expect(parseReference('nginx:1.15.8')).toEqual({
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1.15.8',
    });
    expect(parseReference('quay.io/coreos/prometheus-operator@sha256:' + 'a'.repeat(64))).toEqual({
      registry: 'quay.io',
      repository: 'coreos/prometheus-operator',
      digest: `sha256:${'a'.repeat(64)}`,
    });
    expect(parseReference('127.0.0.1:5000/x/y:z').registry).toBe('127.0.0.1:5000');
    expect(() => parseReference('quay.io/Bad/Name', 'images.yaml: remote[3].image')).toThrow(
      /images\.yaml: remote\[3\]\.image: "quay.io\/Bad\/Name" is not a valid image reference/,
    );
    expect(() => parseReference(`x@sha256:${'a'.repeat(63)}`, 'f')).toThrow(/63 hex digits instead of 64/);
  });

  it('./toolkit.ts image pull lays out an image pinned by digest, and refuses a tag', async () => {
    const registry = await startRegistry();
    const image = imageOf([await randomLayer('z.bin', 5000)]);
    const digest = await pushImage(registry.host, 'tool/image', '1', image);
    const dir = join(tempDir(), 'layout');
    const cache = tempDir('mk8s-store-');
    const pulled = await runCli(['image', 'pull', `${registry.host}/tool/image@${digest}`, dir, '--cache', cache], {
      entry: 'toolkit.ts',
    });
    expect(pulled.stderr).toBe('');
    expect(pulled.stdout).toBe(`${digest}  ${dir}\n`);
    expect((await skopeoInspect(dir)).Digest).toBe(digest);
    const tagged = await runCli(['image', 'pull', `${registry.host}/tool/image:1`, dir], { entry: 'toolkit.ts' });
    expect(tagged.code).toBe(2);
    expect(tagged.stderr).toContain('needs a reference pinned by digest');
  });
});
