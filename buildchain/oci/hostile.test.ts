// A registry that lies: crafted answers from a node:http server on 127.0.0.1 (index entries whose
// digests climb out of the store, descriptors without size, token endpoints without end or
// without JSON). Each must end the pull with one line naming the URL and field, touching nothing.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { BuildError } from '../errors.ts';
import { setIdleTimeout } from '../http.ts';
import { BlobStore } from '../store/blob-store.ts';
import { sha256Digest } from '../store/sha256.ts';
import { ImagePuller } from './puller.ts';

const signal = new AbortController().signal;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

type Handler = (request: IncomingMessage, response: ServerResponse, origin: string) => void;

async function crafted(handler: Handler): Promise<{ host: string; origin: string; requests: string[] }> {
  const requests: string[] = [];
  let origin = '';
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    handler(request, response, origin);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin = `http://${host}`;
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { host, origin, requests };
}

function pullerFor(host: string) {
  const store = new BlobStore(tempDir('mk8s-store-'));
  return new ImagePuller({
    store,
    retryDelayMs: 5,
    mirrors: new Map([['quay.io', host]]),
    credentials: () => undefined,
  });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('the pull succeeded');
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** An index served at its own digest, with `entry` as its only manifest. */
function indexWith(entry: Record<string, unknown>): { bytes: Buffer; digest: string } {
  const bytes = json({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, size: 100, platform: { os: 'linux', architecture: 'amd64' }, ...entry }],
  });
  return { bytes, digest: sha256Digest(bytes) };
}

function serve(documents: Map<string, { bytes: Buffer; type: string }>): Handler {
  return (request, response) => {
    const document = documents.get(request.url ?? '');
    if (!document) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': document.type }).end(document.bytes);
  };
}

describe('a hostile registry', () => {
  it.each([
    ['a path climbing out of the store', 'sha256:../../evil'],
    ['63 hex digits', `sha256:${'a'.repeat(63)}`],
  ])('refuses an index entry whose digest is %s, reading and writing nothing', async (_what, bad) => {
    const index = indexWith({ digest: bad });
    const registry = await crafted(
      serve(new Map([[`/v2/x/y/manifests/${index.digest}`, { bytes: index.bytes, type: OCI_INDEX }]])),
    );
    const pulling = pullerFor(registry.host);
    const root = pulling.options.store.root;
    // A valid manifest where the climbing digest lands: before the check, the pull read it from
    // disk as if it were in the store and went on without asking the registry for it.
    mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(
      join(root, 'evil'),
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }),
    );
    const error = await failure(
      pulling.pull({ registry: 'quay.io', repository: 'x/y', digest: index.digest }, { describe: 'y', signal }),
    );
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain(`${registry.origin}/v2/x/y/manifests/${index.digest}: manifests[0].digest`);
    expect(error.message).toContain('is not a sha256 digest');
    expect(registry.requests).toEqual([`/v2/x/y/manifests/${index.digest}`]);
    expect(readdirSync(join(root, 'blobs', 'sha256'))).toEqual([index.digest.slice(7)]);
  });

  it('refuses a store path for a digest that is not sha256:<64 hex>', () => {
    const store = new BlobStore(tempDir('mk8s-store-'));
    expect(() => store.path('sha256:../../etc/passwd')).toThrow(
      /"sha256:\.\.\/\.\.\/etc\/passwd" is not a sha256 digest/,
    );
    expect(() => store.path(`sha256:${'A'.repeat(64)}`)).toThrow(BuildError);
  });

  it.each([
    ['missing', undefined, /layers\[0\]\.size: missing/],
    ['negative', -1, /layers\[0\]\.size: -1;/],
    ['fractional', 1.5, /layers\[0\]\.size: 1\.5;/],
    ['a string', '10', /layers\[0\]\.size: "10";/],
  ])('refuses a layer whose size is %s before any download', async (_what, size, message) => {
    const config = json({ architecture: 'amd64', os: 'linux' });
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Digest('layer'), size };
    const manifest = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256Digest(config),
        size: config.length,
      },
      layers: [layer],
    });
    const digest = sha256Digest(manifest);
    const registry = await crafted(
      serve(new Map([[`/v2/x/y/manifests/${digest}`, { bytes: manifest, type: OCI_MANIFEST }]])),
    );
    const error = await failure(
      pullerFor(registry.host).pull({ registry: 'quay.io', repository: 'x/y', digest }, { describe: 'y', signal }),
    );
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toContain(`${registry.origin}/v2/x/y/manifests/${digest}: `);
    expect(error.message).toMatch(message);
    expect(registry.requests).toEqual([`/v2/x/y/manifests/${digest}`]);
  });

  function bearer(token: (response: ServerResponse) => void): Handler {
    return (request, response, origin) => {
      if (request.url?.startsWith('/token')) {
        token(response);
        return;
      }
      response.writeHead(401, { 'www-authenticate': `Bearer realm="${origin}/token",service="crafted"` }).end();
    };
  }

  /** A JSON answer whose body never ends, written as fast as the client reads. */
  function streamForever(response: ServerResponse, status: number): void {
    response.writeHead(status, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 << 10, 0x61);
    const more = (): void => {
      while (!response.destroyed && response.write(chunk));
    };
    response.on('drain', more);
    more();
  }

  it('stops reading a token answer that never ends, naming the token URL', async () => {
    const registry = await crafted(bearer((response) => streamForever(response, 200)));
    const started = Date.now();
    const error = await failure(
      pullerFor(registry.host).pull(
        { registry: 'quay.io', repository: 'x/y', digest: sha256Digest('m') },
        { describe: 'y', signal },
      ),
    );
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toMatch(
      new RegExp(
        `^${registry.origin}/token\\?service=crafted&scope=repository%3Ax%2Fy%3Apull: token answer larger than`,
      ),
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('says a token answer is not JSON in one line naming the token URL', async () => {
    const registry = await crafted(bearer((response) => response.writeHead(200).end('<html>login</html>')));
    const error = await failure(
      pullerFor(registry.host).pull(
        { registry: 'quay.io', repository: 'x/y', digest: sha256Digest('m') },
        { describe: 'y', signal },
      ),
    );
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${registry.origin}/token?service=crafted&scope=repository%3Ax%2Fy%3Apull: token answer is not JSON`,
    );
  });

  it('reads only the start of an error body that never ends', async () => {
    const digest = sha256Digest('m');
    const registry = await crafted((_request, response) => streamForever(response, 404));
    const started = Date.now();
    const error = await failure(
      pullerFor(registry.host).pull({ registry: 'quay.io', repository: 'x/y', digest }, { describe: 'y', signal }),
    );
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${registry.origin}/v2/x/y/manifests/${digest}: manifest x/y@${digest} answered HTTP 404`,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives up on a server that accepts and sends nothing, naming the URL', async () => {
    const digest = sha256Digest('m');
    const registry = await crafted(() => undefined);
    setIdleTimeout(200);
    try {
      const started = Date.now();
      const error = await failure(
        pullerFor(registry.host).pull({ registry: 'quay.io', repository: 'x/y', digest }, { describe: 'y', signal }),
      );
      expect(error).toBeInstanceOf(BuildError);
      expect(error.message).toBe(`${registry.origin}/v2/x/y/manifests/${digest}: no answer for 0.2 s (ETIMEDOUT)`);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      setIdleTimeout(60_000);
    }
  });
});
