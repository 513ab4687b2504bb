import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { imageOf, pushImage, randomLayer, startRegistry } from '../../test/registry.ts';
import { BlobStore } from '../store/blob-store.ts';
import { ImagePuller } from './puller.ts';
import { mergeTagLocks, type TagLockEntry } from './tag-lock-file.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const puller = (mirror: string) =>
  new ImagePuller({ store: new BlobStore(tempDir('mk8s-store-')), mirrors: new Map([['quay.io', mirror]]) });

describe('resolving a tag to a digest', () => {
  it('answers the sha256 of the manifest docker-registry serves for the tag, as its Docker-Content-Digest says, and keeps it in the store', async () => {
    const registry = await startRegistry();
    const digest = await pushImage(
      registry.host,
      'prometheus/prometheus',
      'v2.12.0',
      imageOf([await randomLayer('p', 1000)]),
    );
    const resolver = puller(registry.host);
    const source = { registry: 'quay.io', repository: 'prometheus/prometheus', tag: 'v2.12.0' };
    expect(await resolver.resolveTag(source, 'prometheus v2.12.0', new AbortController().signal)).toBe(digest);
    expect(await resolver.options.store.has(digest)).toBe(true);
  });

  it('refuses an answer whose Docker-Content-Digest is not the digest of the bytes served, naming the URL and both', async () => {
    const body = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}';
    const served = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const said = `sha256:${'4'.repeat(64)}`;
    const server = createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
        'docker-content-digest': said,
      });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const resolver = puller(host);
    await expect(
      resolver.resolveTag(
        { registry: 'quay.io', repository: 'prometheus/prometheus', tag: 'v2.12.0' },
        'prometheus v2.12.0',
        new AbortController().signal,
      ),
    ).rejects.toThrow(
      `http://${host}/v2/prometheus/prometheus/manifests/v2.12.0: prometheus v2.12.0: the manifest served has digest ${served}, but Docker-Content-Digest says ${said}`,
    );
    expect(await resolver.options.store.has(served)).toBe(false);
  });
});

describe('merging an imported image lock', () => {
  const entry = (digest: string): TagLockEntry => ({
    name: 'prometheus',
    image: 'quay.io/prometheus/prometheus',
    version: 'v2.12.0',
    digest,
  });
  const other: TagLockEntry = {
    ...entry(`sha256:${'6'.repeat(64)}`),
    name: 'grafana',
    image: 'docker.io/grafana/grafana',
  };

  it('adds what the project lacks, keeps what both agree on, and refuses another digest for the same image', () => {
    const current = new Map([['prometheus quay.io/prometheus/prometheus:v2.12.0', entry(`sha256:${'5'.repeat(64)}`)]]);
    const where = { current: 'images/images.lock.yaml', incoming: 'inputs.tar: images.lock.yaml' };
    expect(mergeTagLocks(current, [entry(`sha256:${'5'.repeat(64)}`), other], where)).toEqual([
      entry(`sha256:${'5'.repeat(64)}`),
      other,
    ]);
    expect(() => mergeTagLocks(current, [entry(`sha256:${'7'.repeat(64)}`)], where)).toThrow(
      `inputs.tar: images.lock.yaml: prometheus quay.io/prometheus/prometheus:v2.12.0 is locked to sha256:${'7'.repeat(64)}, but images/images.lock.yaml has sha256:${'5'.repeat(64)}`,
    );
  });
});
