// Servers that misbehave on purpose, on 127.0.0.1, for the hostile-input tests of every client
// (registries, yum repositories, the runtime, spec sources): crafted answers from node:http, a
// body that never ends, a server that accepts and says nothing, one that drips its bytes, and a
// port whose connections are never completed. Each is closed after its test. Also what every
// such test checks: the error the client ended with, and a store left without a partial blob.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import type { BlobStore } from '../buildchain/store/blob-store.ts';
import { requireTool } from './helpers.ts';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

export type Handler = (request: IncomingMessage, response: ServerResponse, origin: string) => void;

/** A node:http server answering with `handler`; `requests` lists the paths it was asked for. */
export async function crafted(handler: Handler): Promise<{ host: string; origin: string; requests: string[] }> {
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

/**
 * An answer whose body never ends, written as fast as the client reads; `sent` counts the bytes
 * written, so a test can say that the client stopped reading near its bound.
 */
export function streamForever(
  response: ServerResponse,
  status: number,
  chunk = Buffer.alloc(64 << 10, 0x61),
): { sent: number } {
  const counter = { sent: 0 };
  response.writeHead(status, { 'content-type': 'application/octet-stream' });
  const more = (): void => {
    while (!response.destroyed) {
      counter.sent += chunk.length;
      if (!response.write(chunk)) break;
    }
  };
  response.on('drain', more);
  more();
  return counter;
}

/** Headers and `first` bytes of a body announced longer, then silence: the idle timeout's case. */
export function stallAfter(response: ServerResponse, first: Buffer | string): void {
  response.writeHead(200, { 'content-length': String(Buffer.byteLength(first) + 1000) });
  response.write(first);
}

/**
 * A port on 127.0.0.1 where a TCP connection never completes: a listener with a backlog of 0 that
 * never accepts, its one queue slot taken, so the kernel drops every further SYN. Node's servers
 * accept at once, hence python3's socket module for the listener.
 */
export async function unconnectablePort(): Promise<number> {
  const python = spawn(
    requireTool('python3'),
    [
      '-c',
      'import socket, sys\ns = socket.socket()\ns.bind(("127.0.0.1", 0))\ns.listen(0)\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    python.once('error', reject);
    python.stdout.once('data', (line: Buffer) => resolve(Number(line.toString().trim())));
  });
  const filler = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => filler.once('connect', resolve).once('error', reject));
  closers.push(() => {
    filler.destroy();
    python.kill();
  });
  return port;
}

/** The error `promise` ends with; a test fails if it succeeds. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('the hostile server was not refused');
}

/** The store holds exactly `digests`: nothing half-downloaded, nothing under a wrong name. */
export function expectStoreHolds(store: BlobStore, ...digests: string[]): void {
  const list = (dir: string) => (existsSync(join(store.root, dir)) ? readdirSync(join(store.root, dir)) : []);
  expect(list('ingest').filter((name) => name.endsWith('.partial'))).toEqual([]);
  expect(list('blobs/sha256').sort()).toEqual(digests.map((digest) => digest.slice('sha256:'.length)).sort());
}
