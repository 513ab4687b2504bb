// A yum repository that lies or stalls: crafted answers from a node:http server on 127.0.0.1
// (a repomd.xml or primary.xml that never ends, a decompression bomb, metadata or a package longer
// than declared, silence, bytes that are not XML). Each must end with one line naming the URL,
// having read about as much as its bound and left nothing in the store.
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { requireTool, tempDir } from '../../test/helpers.ts';
import {
  crafted,
  expectStoreHolds,
  failure,
  stallAfter,
  streamForever,
  type Handler,
} from '../../test/hostile-servers.ts';
import { BuildError } from '../errors.ts';
import { DEFAULT_HTTP_TIMEOUTS, setHttpTimeouts } from '../http.ts';
import { BlobStore } from '../store/blob-store.ts';
import { sha256Digest } from '../store/sha256.ts';
import { YumRepository, type MetadataLimits } from './repository.ts';
import { fetchPackages } from './workspace.ts';

const signal = new AbortController().signal;
afterEach(() => setHttpTimeouts(DEFAULT_HTTP_TIMEOUTS));

const hex = (bytes: Buffer | string) => sha256Digest(bytes).slice('sha256:'.length);

const PRIMARY = Buffer.from(
  `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">\n` +
    `<package type="rpm"><name>tool</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/><checksum type="sha256" pkgid="YES">${'cd'.repeat(32)}</checksum><location href="tool-1-1.noarch.rpm"/><size package="9"/><format><rpm:provides/><rpm:requires/></format></package>\n` +
    '</metadata>\n',
);

/** repomd.xml listing `file` as primary, with the size and open-size given (null: left out). */
function repomd(
  file: { location: string; bytes: Buffer },
  declared: { size?: number | null; openSize?: number | null } = {},
): string {
  const size = declared.size === undefined ? file.bytes.length : declared.size;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo">' +
    `<data type="primary"><checksum type="sha256">${hex(file.bytes)}</checksum><location href="${file.location}"/>` +
    (size === null ? '' : `<size>${size}</size>`) +
    (declared.openSize == null ? '' : `<open-size>${declared.openSize}</open-size>`) +
    '</data></repomd>\n'
  );
}

/** Serves `repomd.xml` and the files given by path; anything else is a 404. */
function yum(repomdText: string, files: Record<string, Handler | Buffer> = {}): Handler {
  return (request, response, origin) => {
    if (request.url === '/repodata/repomd.xml') response.writeHead(200).end(repomdText);
    else {
      const file = files[request.url ?? ''];
      if (Buffer.isBuffer(file)) response.writeHead(200).end(file);
      else if (file) file(request, response, origin);
      else response.writeHead(404).end();
    }
  };
}

function repository(origin: string, limits: Partial<MetadataLimits> = {}): YumRepository {
  const store = new BlobStore(tempDir('mk8s-yum-store-'));
  return new YumRepository({ name: 'os', baseurl: origin, priority: 1 }, new Map(), store, limits);
}

describe('a hostile yum repository', () => {
  it('stops reading a repomd.xml that never ends at 4 MiB, naming its URL', async () => {
    let endless = { sent: 0 };
    const server = await crafted((_request, response) => {
      endless = streamForever(response, 200, Buffer.alloc(64 << 10, 0x20));
    });
    const error = await failure(repository(server.origin).packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(`${server.origin}/repodata/repomd.xml: larger than 4.00 MiB, not a repomd.xml`);
    // What the socket buffers held on top of the bound, not more.
    expect(endless.sent).toBeLessThan(16 << 20);
  });

  it('cuts a primary.xml without a declared size that never ends, keeping nothing', async () => {
    let endless = { sent: 0 };
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml', bytes: PRIMARY }, { size: null }), {
        '/repodata/primary.xml': (_request, response) => {
          endless = streamForever(response, 200, Buffer.alloc(64 << 10, 0x20));
        },
      }),
    );
    const repo = repository(server.origin, { fileBytes: 1 << 20 });
    const error = await failure(repo.packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${server.origin}/repodata/primary.xml (repository os): received more than 1048576 bytes, the most accepted without a declared size`,
    );
    expect(endless.sent).toBeLessThan(16 << 20);
    expectStoreHolds(repo.store);
  });

  it('refuses a primary.xml longer than repomd.xml declares, though its checksum matches', async () => {
    const gz = gzipSync(PRIMARY);
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml.gz', bytes: gz }, { size: gz.length - 10 }), {
        '/repodata/primary.xml.gz': gz,
      }),
    );
    const repo = repository(server.origin);
    const error = await failure(repo.packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${server.origin}/repodata/primary.xml.gz (repository os): received more than the ${gz.length - 10} bytes declared for ${sha256Digest(gz)}`,
    );
    expectStoreHolds(repo.store);
  });

  it('cuts a gzip decompression bomb at the open-size repomd.xml declares', async () => {
    // 64 MiB of spaces inside the root element: about 64 KiB compressed.
    const open = Buffer.concat([PRIMARY.subarray(0, PRIMARY.indexOf('<package')), Buffer.alloc(64 << 20, 0x20)]);
    const bomb = gzipSync(open, { level: 9 });
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml.gz', bytes: bomb }, { openSize: 4096 }), {
        '/repodata/primary.xml.gz': bomb,
      }),
    );
    const error = await failure(repository(server.origin).packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${server.origin}/repodata/primary.xml.gz: decompresses to more than the 4096 bytes of its <open-size> in repomd.xml (repository os)`,
    );
  });

  it('cuts an xz decompression bomb without a declared open-size at the ceiling', async () => {
    const open = Buffer.concat([PRIMARY.subarray(0, PRIMARY.indexOf('<package')), Buffer.alloc(64 << 20, 0x20)]);
    const bomb = execFileSync(requireTool('xz'), ['-9', '-c'], { input: open, maxBuffer: 64 << 20 });
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml.xz', bytes: bomb }), { '/repodata/primary.xml.xz': bomb }),
    );
    const error = await failure(repository(server.origin, { openBytes: 1 << 20 }).packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${server.origin}/repodata/primary.xml.xz: decompresses to more than 1.00 MiB (repository os)`,
    );
  });

  it('refuses a package element that never closes within 16 MiB', async () => {
    const open = Buffer.concat([
      PRIMARY.subarray(0, PRIMARY.indexOf('<package')),
      Buffer.from('<package type="rpm"><description>'),
      Buffer.alloc(20 << 20, 0x61),
    ]);
    const gz = gzipSync(open);
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml.gz', bytes: gz }), { '/repodata/primary.xml.gz': gz }),
    );
    const error = await failure(repository(server.origin).packages(signal));
    expect(error.message).toBe(`${server.origin}/repodata/primary.xml.gz: 16 MiB without a complete <package> element`);
  });

  it('refuses a package longer than primary.xml declares, though its checksum matches', async () => {
    const rpm = Buffer.alloc(200, 0x52);
    const server = await crafted(yum('', { '/Packages/tool-1-1.noarch.rpm': rpm }));
    const repo = repository(server.origin);
    const locked = {
      name: 'tool',
      epoch: '0',
      version: '1',
      release: '1',
      arch: 'noarch',
      repo: 'os',
      location: 'Packages/tool-1-1.noarch.rpm',
      size: 100,
      digest: sha256Digest(rpm),
    };
    const error = await failure(fetchPackages(repo.store, [locked], () => repo, { jobs: 1, signal }));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `tool-1-1.noarch from ${server.origin}/Packages/tool-1-1.noarch.rpm: received more than the 100 bytes declared for ${sha256Digest(rpm)}`,
    );
    expectStoreHolds(repo.store);
  });

  it('gives up on a repository that accepts and sends nothing, naming repomd.xml and the setting', async () => {
    const server = await crafted(() => undefined);
    setHttpTimeouts({ ...DEFAULT_HTTP_TIMEOUTS, headerMs: 150 });
    const error = await failure(repository(server.origin).packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${server.origin}/repodata/repomd.xml: no response headers within 0.15 s (HTTP_HEADER_TIMEOUT)`,
    );
  });

  it('gives up on a primary.xml that stalls halfway, after one more attempt, naming the setting', async () => {
    const gz = gzipSync(PRIMARY);
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml.gz', bytes: gz }), {
        '/repodata/primary.xml.gz': (_request, response) => stallAfter(response, gz.subarray(0, 20)),
      }),
    );
    setHttpTimeouts({ ...DEFAULT_HTTP_TIMEOUTS, idleMs: 150 });
    const error = await failure(repository(server.origin).packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(
      `${server.origin}/repodata/primary.xml.gz (repository os): no body bytes within 0.15 s (HTTP_IDLE_TIMEOUT)`,
    );
    expect(server.requests.filter((path) => path.endsWith('primary.xml.gz'))).toHaveLength(2);
  });

  it('parses a primary.xml as it downloads, or from the store once a broken download resumed', async () => {
    // Many packages, so that the file streams in several chunks and a break falls inside it.
    const many = Array.from(
      { length: 3000 },
      (_, i) =>
        `<package type="rpm"><name>p${i}</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/><checksum type="sha256" pkgid="YES">${i.toString(16).padStart(64, '0')}</checksum><location href="p${i}.rpm"/><size package="9"/><format><rpm:provides/><rpm:requires/></format></package>\n`,
    );
    const primary = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" packages="${many.length}">\n${many.join('')}</metadata>\n`,
    );
    const gz = gzipSync(primary, { level: 0 });
    let broken = false;
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml.gz', bytes: gz }), {
        '/repodata/primary.xml.gz': (request, response) => {
          const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
          if (range) {
            response
              .writeHead(206, { 'content-length': gz.length - Number(range[1]) })
              .end(gz.subarray(Number(range[1])));
          } else if (!broken) {
            // The first answer breaks off halfway.
            broken = true;
            response.writeHead(200, { 'content-length': gz.length });
            response.write(gz.subarray(0, gz.length >> 1), () => response.destroy());
          } else response.writeHead(200).end(gz);
        },
      }),
    );
    const resumed = await repository(server.origin).packages(signal);
    expect(server.requests.filter((path) => path.endsWith('primary.xml.gz'))).toHaveLength(2);
    const whole = await repository(server.origin).packages(signal);
    expect(server.requests.filter((path) => path.endsWith('primary.xml.gz'))).toHaveLength(3);
    for (const packages of [resumed, whole]) {
      expect(packages.map((pkg) => pkg.name)).toEqual(many.map((_, i) => `p${i}`));
      expect(packages[2999]!.checksum.value).toBe((2999).toString(16).padStart(64, '0'));
    }
  });

  it.each([
    ['binary bytes', Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x3c, 0x00])],
    ['an HTML page', Buffer.from('<html><body>Welcome to our mirror</body></html>')],
    [
      'a non-numeric size',
      Buffer.from(repomd({ location: 'p.xml', bytes: PRIMARY }).replace(/<size>\d+/, '<size>big')),
    ],
  ])('says a repomd.xml of %s is not one, in one line naming its URL', async (_what, body) => {
    const server = await crafted((_request, response) => response.writeHead(200).end(body));
    const error = await failure(repository(server.origin).packages(signal));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message.startsWith(`${server.origin}/repodata/repomd.xml: `)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  it('says a primary.xml that is not XML is not one, naming its URL', async () => {
    const text = Buffer.from('this is not a primary.xml at all\n');
    const server = await crafted(
      yum(repomd({ location: 'repodata/primary.xml', bytes: text }), { '/repodata/primary.xml': text }),
    );
    const error = await failure(repository(server.origin).packages(signal));
    expect(error.message).toBe(
      `${server.origin}/repodata/primary.xml: not a primary.xml (text outside the root element)`,
    );
  });
});
