// Test fixtures for image work: a real registry (Debian's docker-registry) on 127.0.0.1,
// generated OCI layouts pushed into it with real skopeo, and a proxy in front of it that
// asks for credentials or breaks transfers on purpose.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach } from 'vitest';
import { requireTool, tempDir } from './helpers.ts';
import { startDockerRegistry } from './servers.ts';

const run = promisify(execFile);
const stoppers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stoppers.splice(0)) await stop();
});

export { freePort } from './servers.ts';

/** Starts docker-registry on 127.0.0.1; stopped after the test. */
export async function startRegistry(): Promise<{ host: string; port: number }> {
  const registry = await startDockerRegistry(tempDir('mk8s-registry-'));
  stoppers.push(() => registry.stop());
  return registry;
}

export { imageOf, indexOf, randomLayer, writeOciLayout, type Blob, type FixtureImage } from './oci-fixtures.ts';
import { writeOciLayout, type Blob, type FixtureImage } from './oci-fixtures.ts';

/**
 * Copies an image (or an index of images) with skopeo from a generated OCI layout to `destination`
 * (`docker://...`, `dir:...`) and returns its digest there. `format: 'v2s2'` converts to Docker's.
 */
async function skopeoCopy(
  content: FixtureImage | { index: Blob; images: FixtureImage[] },
  destination: string,
  format?: 'v2s2',
): Promise<string> {
  const skopeo = requireTool('skopeo');
  const dir = tempDir('mk8s-oci-');
  const images = 'index' in content ? content.images : [content];
  const top = 'index' in content ? content.index : content.manifest;
  writeOciLayout(
    dir,
    top,
    images.flatMap((image) => [image.manifest, image.config, ...image.layers]),
  );
  const digestFile = join(dir, 'digest');
  await run(skopeo, [
    '--insecure-policy',
    'copy',
    '--dest-tls-verify=false',
    '--digestfile',
    digestFile,
    ...('index' in content ? ['--all'] : []),
    ...(format ? ['--format', format] : []),
    `oci:${dir}:latest`,
    destination,
  ]);
  return readFileSync(digestFile, 'utf8').trim();
}

/** Pushes to `registry/repository:tag`; returns the digest the registry serves it under. */
export async function pushImage(
  registry: string,
  repository: string,
  tag: string,
  content: FixtureImage | { index: Blob; images: FixtureImage[] },
  format?: 'v2s2',
): Promise<string> {
  return skopeoCopy(content, `docker://${registry}/${repository}:${tag}`, format);
}

/** Writes a skopeo `dir:` layout at `dir` (its parent must exist); returns the manifest digest. */
export async function dirLayout(
  dir: string,
  content: FixtureImage | { index: Blob; images: FixtureImage[] },
  format?: 'v2s2',
): Promise<string> {
  return skopeoCopy(content, `dir:${dir}`, format);
}

export interface ProxyOptions {
  /** Repositories that need `Authorization: Basic` with these credentials. */
  basic?: { repository: string; username: string; password: string };
  /** Repositories behind a Bearer token from `/token` (itself asking Basic credentials). */
  bearer?: { repository: string; username: string; password: string };
  /** Break the body of this blob after `after` bytes, `times` times. */
  cut?: { digest: string; after: number; times: number };
  /** Flip one byte in the middle of this blob, every time. */
  flip?: { digest: string };
  /** Answer 503 to the first `count` requests for blobs. */
  unavailable?: number;
}

/** A proxy in front of the registry that adds auth and faults; records what it was asked. */
export async function startProxy(
  upstream: string,
  options: ProxyOptions,
): Promise<{ host: string; requests: { method: string; url: string; range?: string; status: number }[] }> {
  const requests: { method: string; url: string; range?: string; status: number }[] = [];
  let unavailable = options.unavailable ?? 0;
  let cuts = options.cut?.times ?? 0;
  const token = randomBytes(8).toString('hex');
  let origin = '';
  const answer = (res: ServerResponse, status: number, headers: Record<string, string>, body = ''): void => {
    res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const entry: { method: string; url: string; range?: string; status: number } = {
      method: req.method ?? 'GET',
      url,
      status: 0,
      ...(req.headers.range ? { range: req.headers.range } : {}),
    };
    requests.push(entry);
    const basicOk = (auth: { username: string; password: string }) =>
      req.headers.authorization === `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    if (url.startsWith('/token')) {
      const ok = options.bearer && basicOk(options.bearer);
      entry.status = ok ? 200 : 401;
      answer(res, entry.status, { 'content-type': 'application/json' }, ok ? JSON.stringify({ token }) : '{}');
      return;
    }
    if (options.basic && url.startsWith(`/v2/${options.basic.repository}/`) && !basicOk(options.basic)) {
      entry.status = 401;
      answer(res, 401, { 'www-authenticate': 'Basic realm="test"' });
      return;
    }
    if (
      options.bearer &&
      url.startsWith(`/v2/${options.bearer.repository}/`) &&
      req.headers.authorization !== `Bearer ${token}`
    ) {
      entry.status = 401;
      answer(res, 401, {
        'www-authenticate': `Bearer realm="${origin}/token",service="test",scope="repository:${options.bearer.repository}:pull"`,
      });
      return;
    }
    if (url.includes('/blobs/') && unavailable > 0) {
      unavailable -= 1;
      entry.status = 503;
      answer(res, 503, {});
      return;
    }
    const { authorization: _ignored, ...headers } = req.headers;
    const forward = httpRequest(
      `http://${upstream}${url}`,
      { method: req.method, headers: { ...headers, host: upstream } },
      (up) => {
        entry.status = up.statusCode ?? 0;
        const cut = options.cut && url.endsWith(`/blobs/${options.cut.digest}`) && cuts > 0;
        const flip = options.flip && url.endsWith(`/blobs/${options.flip.digest}`);
        if (!cut && !flip) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (chunk: Buffer) => chunks.push(chunk));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (cut) {
            cuts -= 1;
            res.write(body.subarray(0, options.cut!.after));
            setTimeout(() => res.destroy(), 20);
            return;
          }
          body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
          res.end(body);
        });
      },
    );
    forward.on('error', () => answer(res, 502, {}));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  stoppers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { host: `127.0.0.1:${port}`, requests };
}
