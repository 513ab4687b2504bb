// The three timeouts of every request (connect, response headers, body silence), each against a
// server on 127.0.0.1 that stalls in that phase, with timeouts of a fraction of a second.
import { afterEach, describe, expect, it } from 'vitest';
import { crafted, failure, stallAfter, unconnectablePort } from '../test/hostile-servers.ts';
import { BuildError } from './errors.ts';
import { DEFAULT_HTTP_TIMEOUTS, getWithRetries, setHttpTimeouts } from './http.ts';

const signal = new AbortController().signal;
afterEach(() => setHttpTimeouts(DEFAULT_HTTP_TIMEOUTS));

describe('HTTP timeouts', () => {
  it('gives up on a connection that never completes, naming the URL and HTTP_CONNECT_TIMEOUT', async () => {
    const url = `http://127.0.0.1:${await unconnectablePort()}/repodata/repomd.xml`;
    setHttpTimeouts({ connectMs: 150, headerMs: 60_000, idleMs: 60_000 });
    const error = await failure(getWithRetries(url, { signal, retryDelayMs: 1 }));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(`${url}: no connection within 0.15 s (HTTP_CONNECT_TIMEOUT)`);
  });

  it('gives up on a server that accepts and sends nothing after one retry, naming HTTP_HEADER_TIMEOUT', async () => {
    const server = await crafted(() => undefined);
    setHttpTimeouts({ connectMs: 60_000, headerMs: 150, idleMs: 60_000 });
    const error = await failure(getWithRetries(`${server.origin}/x`, { signal, retryDelayMs: 1 }));
    expect(error).toBeInstanceOf(BuildError);
    expect(error.message).toBe(`${server.origin}/x: no response headers within 0.15 s (HTTP_HEADER_TIMEOUT)`);
    // One retry, not the four a broken connection gets.
    expect(server.requests).toEqual(['/x', '/x']);
  });

  it('counts the header timeout from the request, not from the last byte of headers dripped', async () => {
    const server = await crafted((_request, response) => {
      // A status line, then a header line every 50 ms, never reaching the end of the headers.
      const socket = response.socket!;
      socket.write('HTTP/1.1 200 OK\r\n');
      const timer = setInterval(() => socket.write('x-drip: 1\r\n'), 50);
      socket.once('close', () => clearInterval(timer));
    });
    setHttpTimeouts({ connectMs: 60_000, headerMs: 300, idleMs: 60_000 });
    const error = await failure(getWithRetries(`${server.origin}/x`, { signal, retries: 0 }));
    expect(error.message).toBe(`${server.origin}/x: no response headers within 0.3 s (HTTP_HEADER_TIMEOUT)`);
  });

  it('fails a body that stops in the middle, naming HTTP_IDLE_TIMEOUT, while the headers came in time', async () => {
    const server = await crafted((_request, response) => stallAfter(response, 'first bytes'));
    setHttpTimeouts({ connectMs: 60_000, headerMs: 60_000, idleMs: 150 });
    const response = await getWithRetries(`${server.origin}/x`, { signal });
    expect(response.status).toBe(200);
    const error = await failure(response.body.bytes(1 << 20));
    expect(error.message).toBe('no body bytes within 0.15 s (HTTP_IDLE_TIMEOUT)');
  });
});
