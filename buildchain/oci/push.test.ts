// The push client against a real docker-registry (distribution 2.8: no referrers API, so the
// `sha256-<hex>` tag fallback), a proxy that breaks an upload chunk or asks for a token, and a
// crafted server with the OCI 1.1 referrers API (which no Debian package provides).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { startProxy, startRegistry } from '../../test/registry.ts';
import { sha256Digest } from '../store/sha256.ts';
import { EMPTY_CONFIG, artifactManifest } from './artifact.ts';
import { OCI_MANIFEST, type Descriptor } from './media-types.ts';
import {
  blobExists,
  bytesBlob,
  fileBlob,
  listReferrers,
  pushBlob,
  pushManifest,
  pushReferrer,
  referrersTag,
  type Target,
} from './push.ts';
import type { CredentialLookup } from './credentials.ts';
import { RegistryClient, resolveEndpoint } from './registry.ts';

const signal = new AbortController().signal;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function target(host: string, repository: string, credentials: CredentialLookup = () => undefined): Target {
  const client = new RegistryClient(resolveEndpoint(host, new Map()), { credentials, retryDelayMs: 5 });
  return { client, repository, signal };
}

async function blobBytes(host: string, repository: string, digest: string): Promise<Buffer> {
  const response = await fetch(`http://${host}/v2/${repository}/blobs/${digest}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

function randomFile(size: number): { path: string; bytes: Buffer; digest: string } {
  const bytes = randomBytes(size);
  const path = join(tempDir('mk8s-push-'), 'blob');
  writeFileSync(path, bytes);
  return { path, bytes, digest: sha256Digest(bytes) };
}

/** Pushes the empty config and one layer, then an artifact manifest of them; its descriptor. */
async function pushArtifact(t: Target, layer: Buffer, extra: { subject?: Descriptor; artifactType?: string } = {}) {
  await pushBlob(t, bytesBlob(EMPTY_CONFIG));
  const blob = bytesBlob(layer);
  await pushBlob(t, blob);
  const bytes = artifactManifest({
    layers: [{ mediaType: 'text/plain', digest: blob.digest, size: blob.size }],
    ...extra,
    artifactType: extra.artifactType ?? 'application/vnd.example.test.v1',
  });
  return { bytes, descriptor: { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length } };
}

describe('blob push against docker-registry', () => {
  it('uploads in one PUT, then skips a blob that is there and mounts it into another repository', async () => {
    const { host } = await startRegistry();
    const file = randomFile(300_000);
    const t = target(host, 'push/one');
    expect(await blobExists(t, file.digest)).toBe(false);
    expect(await pushBlob(t, fileBlob(file.path, file.digest, file.bytes.length))).toBe('uploaded');
    expect((await blobBytes(host, 'push/one', file.digest)).equals(file.bytes)).toBe(true);
    expect(await pushBlob(t, fileBlob(file.path, file.digest, file.bytes.length))).toBe('present');
    const other = target(host, 'push/two');
    expect(await pushBlob(other, fileBlob(file.path, file.digest, 0), { mountFrom: 'push/one' })).toBe('mounted');
    expect((await blobBytes(host, 'push/two', file.digest)).equals(file.bytes)).toBe(true);
  });

  it('uploads a big blob in PATCH chunks streamed from the file', async () => {
    const { host } = await startRegistry();
    const file = randomFile(2_500_000);
    const t = target(host, 'push/chunks');
    const progress: number[] = [];
    const result = await pushBlob(t, fileBlob(file.path, file.digest, file.bytes.length), {
      chunkSize: 1 << 20,
      onBytes: (n) => progress.push(n),
    });
    expect(result).toBe('uploaded');
    expect(progress).toEqual([1 << 20, 1 << 20, 2_500_000 - 2 * (1 << 20)]);
    expect((await blobBytes(host, 'push/chunks', file.digest)).equals(file.bytes)).toBe(true);
  });

  it('resumes a chunked upload where the registry says it stopped after a connection breaks', async () => {
    const { host } = await startRegistry();
    const file = randomFile(3 << 20);
    const proxy = await breakingProxy(host, 2);
    const result = await pushBlob(target(proxy.host, 'push/resume'), fileBlob(file.path, file.digest, 3 << 20), {
      chunkSize: 1 << 20,
    });
    expect(result).toBe('uploaded');
    expect((await blobBytes(host, 'push/resume', file.digest)).equals(file.bytes)).toBe(true);
    // The broken PATCH is followed by a status GET, then the same chunk again: no new session.
    expect(proxy.requests.filter((r) => r === 'POST')).toHaveLength(1);
    expect(proxy.requests).toEqual(['HEAD', 'POST', 'PATCH', 'PATCH', 'GET', 'PATCH', 'PATCH', 'PUT']);
  });

  it('refuses a blob whose bytes are not its digest, naming the URL', async () => {
    const { host } = await startRegistry();
    const blob = { ...bytesBlob(Buffer.from('real')), digest: sha256Digest('other') };
    await expect(pushBlob(target(host, 'push/bad'), blob)).rejects.toThrow(
      new RegExp(`http://${host}/v2/push/bad/blobs/uploads/.*answered HTTP 400 \\(DIGEST_INVALID`),
    );
  });

  it('asks the token server for push scope', async () => {
    const { host } = await startRegistry();
    const proxy = await startProxy(host, { bearer: { repository: 'push/auth', username: 'u', password: 'p' } });
    const t = target(proxy.host, 'push/auth', () => ({ username: 'u', password: 'p' }));
    expect(await pushBlob(t, bytesBlob(Buffer.from('authenticated')))).toBe('uploaded');
    const tokenRequest = proxy.requests.find((r) => r.url.startsWith('/token'));
    expect(new URL(tokenRequest!.url, 'http://x').searchParams.getAll('scope')).toContain(
      'repository:push/auth:pull,push',
    );
  });
});

describe('manifests and referrers against docker-registry (tag fallback)', () => {
  it('pushes an artifact by tag and lists referrers through the sha256-<hex> tag', async () => {
    const { host } = await startRegistry();
    const t = target(host, 'push/artifact');
    const release = await pushArtifact(t, Buffer.from('release'));
    const pushed = await pushManifest(t, 'v1', release.bytes, OCI_MANIFEST);
    expect(pushed).toEqual({ digest: release.descriptor.digest, subjectIndexed: false });
    expect(await listReferrers(t, pushed.digest)).toEqual({ manifests: [], source: 'tag' });

    const sbom = await pushArtifact(t, Buffer.from('sbom'), { subject: release.descriptor });
    const signature = await pushArtifact(t, Buffer.from('signature'), { subject: release.descriptor });
    expect((await pushReferrer(t, sbom.bytes)).listedBy).toBe('tag');
    expect((await pushReferrer(t, signature.bytes)).listedBy).toBe('tag');
    // Pushed twice, listed once.
    await pushReferrer(t, sbom.bytes);
    const listed = await listReferrers(t, pushed.digest, 'application/vnd.example.test.v1');
    expect(listed.source).toBe('tag');
    expect(listed.manifests.map((m) => m.digest)).toEqual([sbom.descriptor.digest, signature.descriptor.digest]);
    expect(listed.manifests[0]).toMatchObject({
      artifactType: 'application/vnd.example.test.v1',
      size: sbom.bytes.length,
    });
    const index = await fetch(`http://${host}/v2/push/artifact/manifests/${referrersTag(pushed.digest)}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    expect(index.status).toBe(200);
  });
});

describe('referrers API (a crafted OCI 1.1 registry)', () => {
  it('lists referrers through the API, page after page, and never pushes the fallback tag', async () => {
    const registry = await referrersRegistry();
    const t = target(registry.host, 'push/api');
    const release = await pushArtifact(t, Buffer.from('release'));
    const pushed = await pushManifest(t, 'v1', release.bytes, OCI_MANIFEST);
    const sbom = await pushArtifact(t, Buffer.from('sbom'), { subject: release.descriptor });
    const signature = await pushArtifact(t, Buffer.from('signature'), {
      subject: release.descriptor,
      artifactType: 'application/vnd.example.signature.v1',
    });
    expect(await pushReferrer(t, sbom.bytes)).toEqual({ digest: sbom.descriptor.digest, listedBy: 'api' });
    expect((await pushReferrer(t, signature.bytes)).listedBy).toBe('api');
    // Two pages, one referrer each, followed by their Link header.
    const listed = await listReferrers(t, pushed.digest);
    expect(listed.source).toBe('api');
    expect(listed.manifests.map((m) => m.digest)).toEqual([sbom.descriptor.digest, signature.descriptor.digest]);
    // The server ignores the filter: the client applies it.
    const signatures = await listReferrers(t, pushed.digest, 'application/vnd.example.signature.v1');
    expect(signatures.manifests.map((m) => m.digest)).toEqual([signature.descriptor.digest]);
    expect(registry.requests.some((r) => r.includes(`/referrers/${pushed.digest}`))).toBe(true);
    expect(registry.requests.some((r) => r.includes(referrersTag(pushed.digest)))).toBe(false);
  });
});

/** A proxy to `upstream` that cuts the connection in the middle of the `nth` PATCH's body. */
async function breakingProxy(upstream: string, nth: number): Promise<{ host: string; requests: string[] }> {
  const requests: string[] = [];
  let patches = 0;
  const server = createServer((req, res) => {
    requests.push(req.method ?? '');
    if (req.method === 'PATCH' && (patches += 1) === nth) {
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > 100_000) req.socket.destroy();
      });
      return;
    }
    const forward = httpRequest(
      `http://${upstream}${req.url}`,
      // The Host header stays the proxy's: the registry's upload Locations then point here.
      { method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(forward);
  });
  return { host: await listen(server), requests };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Just enough of an OCI 1.1 registry, in memory: monolithic uploads, manifests by tag and digest,
 * `OCI-Subject` on a manifest with a subject, and GET /v2/<name>/referrers/<digest>.
 */
async function referrersRegistry(): Promise<{ host: string; requests: string[] }> {
  const requests: string[] = [];
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { bytes: Buffer; type: string }>();
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    const body = await read(req);
    if (req.method === 'PUT' && url.pathname.startsWith('/v2/upload/')) {
      blobs.set(url.searchParams.get('digest')!, body);
      return res.writeHead(201).end();
    }
    const match = /^\/v2\/(.+?)\/(blobs\/uploads|blobs|manifests|referrers)\/(.*)$/.exec(url.pathname);
    if (!match) return res.writeHead(404).end();
    const [, , kind, ref] = match;
    if (kind === 'blobs/uploads' && req.method === 'POST')
      return res.writeHead(202, { location: `/v2/upload/${randomBytes(4).toString('hex')}` }).end();
    if (kind === 'blobs')
      return res
        .writeHead(blobs.has(ref!) ? 200 : 404, { 'content-length': String(blobs.get(ref!)?.length ?? 0) })
        .end();
    if (kind === 'manifests' && req.method === 'PUT') {
      const digest = sha256Digest(body);
      const stored = { bytes: body, type: String(req.headers['content-type']) };
      manifests.set(ref!, stored);
      manifests.set(digest, stored);
      const subject = (JSON.parse(body.toString()) as { subject?: { digest: string } }).subject;
      return res
        .writeHead(201, { 'docker-content-digest': digest, ...(subject ? { 'oci-subject': subject.digest } : {}) })
        .end();
    }
    if (kind === 'referrers') {
      // One referrer a page, the next page named by Link; the artifactType filter is not applied.
      const list = [...new Set(manifests.values())]
        .map((m) => ({
          m,
          json: JSON.parse(m.bytes.toString()) as { subject?: { digest: string }; artifactType?: string },
        }))
        .filter(({ json }) => json.subject?.digest === ref)
        .map(({ m, json }) => ({
          mediaType: m.type,
          digest: sha256Digest(m.bytes),
          size: m.bytes.length,
          artifactType: json.artifactType,
        }));
      const page = Number(url.searchParams.get('page') ?? 0);
      const next = page + 1 < list.length ? { link: `<${url.pathname}?page=${page + 1}>; rel="next"` } : {};
      const index = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: list.slice(page, page + 1),
      });
      return res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json', ...next }).end(index);
    }
    return res.writeHead(404).end();
  });
  const host = await listen(server);
  return { host, requests };
}
