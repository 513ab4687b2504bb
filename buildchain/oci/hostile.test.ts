// A registry that lies: crafted answers from a node:http server on 127.0.0.1 (index entries whose
// digests climb out of the store, descriptors without size, token endpoints without end or
// without JSON). Each must end the pull with one line naming the URL and field, touching nothing.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../../test/helpers.ts';
import { crafted, failure, streamForever, type Handler } from '../../test/hostile-servers.ts';
import { BuildError } from '../errors.ts';
import { DEFAULT_HTTP_TIMEOUTS, setHttpTimeouts } from '../http.ts';
import { BlobStore } from '../store/blob-store.ts';
import { sha256Digest } from '../store/sha256.ts';
import { ImagePuller } from './puller.ts';

const signal = new AbortController().signal;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function pullerFor(host: string) {
  const store = new BlobStore(tempDir('mk8s-store-'));
  return new ImagePuller({
    store,
    retryDelayMs: 5,
    mirrors: new Map([['quay.io', host]]),
    credentials: () => undefined,
  });
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

  function bearer(token: (response: Parameters<Handler>[1]) => void): Handler {
    return (request, response, origin) => {
      if (request.url?.startsWith('/token')) {
        token(response);
        return;
      }
      response.writeHead(401, { 'www-authenticate': `Bearer realm="${origin}/token",service="crafted"` }).end();
    };
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
    setHttpTimeouts({ ...DEFAULT_HTTP_TIMEOUTS, headerMs: 200 });
    try {
      const started = Date.now();
      const error = await failure(
        pullerFor(registry.host).pull({ registry: 'quay.io', repository: 'x/y', digest }, { describe: 'y', signal }),
      );
      expect(error).toBeInstanceOf(BuildError);
      expect(error.message).toBe(
        `${registry.origin}/v2/x/y/manifests/${digest}: no response headers within 0.2 s (HTTP_HEADER_TIMEOUT)`,
      );
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      setHttpTimeouts(DEFAULT_HTTP_TIMEOUTS);
    }
  });
});

describe('./toolkit.ts image pull against a hostile registry', () => {
  it('takes its HTTP timeouts from the environment, as ./build.ts does', async () => {
    const digest = sha256Digest('m');
    const registry = await crafted(() => undefined);
    const result = await runCli(['image', 'pull', `quay.io/x/y@${digest}`, join(tempDir(), 'layout')], {
      entry: 'toolkit.ts',
      env: { REGISTRY_MIRRORS: `quay.io=${registry.host}`, HTTP_HEADER_TIMEOUT: '0.2', BUILD_ROOT: tempDir() },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${registry.origin}/v2/x/y/manifests/${digest}: no response headers within 0.2 s (HTTP_HEADER_TIMEOUT)`,
    );
  });
});
