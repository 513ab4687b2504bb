// HTTP for every download of the build (registries, yum repositories, spec sources): Node's own
// http and https clients with one keep-alive pool per scheme carrying our TLS roots, retries with
// backoff where they may help, redirects followed by hand, network errors that name the URL.
// Node's clients rather than undici: they are in the runtime's snapshot, while loading undici
// costs ~120 ms in every process that makes a request (more than a whole package resolution's
// margin against dnf), and they stream bodies with backpressure as well.
import { readFileSync } from 'node:fs';
import {
  Agent as HttpAgent,
  type ClientRequest,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BuildError } from './errors.ts';
import * as builtins from './builtins.ts';

/** Answers worth another attempt: the server or something on the way is busy or broken. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

let agents: { http: HttpAgent; https: HttpsAgent } | undefined;

/** One connection pool per scheme for the whole build; the CA bundle the launcher deferred is added here. */
function pools(): { http: HttpAgent; https: HttpsAgent } {
  if (agents) return agents;
  const extra = process.env.METALK8S_DEFERRED_CA_CERTS ?? process.env.NODE_EXTRA_CA_CERTS;
  let ca: string[] | undefined;
  if (extra) {
    try {
      ca = [...builtins.tls().rootCertificates, readFileSync(extra, 'utf8')];
    } catch (error) {
      throw new BuildError(`${extra}: cannot read the extra CA certificates (${(error as Error).message})`);
    }
  }
  agents = {
    http: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
    https: new HttpsAgent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) }),
  };
  return agents;
}

/** A response body: the message stream, plus reading it whole or throwing it away. */
export type ResponseBody = IncomingMessage & {
  /** Reads and discards what is left, so the connection goes back to the pool. */
  dump(): Promise<void>;
  /** The whole body; past `limit` bytes, reading stops with the error `tooLarge` makes. */
  bytes(limit: number, tooLarge?: () => Error): Promise<Buffer>;
};

function withHelpers(message: IncomingMessage): ResponseBody {
  const body = message as ResponseBody;
  body.dump = async () => {
    message.resume();
    await finished(message).catch(() => undefined);
  };
  body.bytes = async (limit, tooLarge = () => new BuildError(`answer larger than ${limit} bytes`)) => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of message) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        message.destroy();
        throw tooLarge();
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  };
  return body;
}

export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** A connection that failed or broke (not an answer): what an upload may resume after. */
export class NetworkError extends BuildError {
  override name = 'NetworkError';
}

/** An error naming the URL and the system's reason (ECONNREFUSED...); an abort stays an abort. */
export function networkError(url: string, error: unknown): Error {
  if ((error as Error).name === 'AbortError') return error as Error;
  if (error instanceof HttpTimeoutError) return new BuildError(`${url}: ${error.message}`);
  if (error instanceof BuildError) return error;
  const cause = (error as { cause?: { code?: string } }).cause;
  const code = (error as { code?: string }).code ?? cause?.code;
  return new NetworkError(
    `${url}: ${(error as Error).message}${code && !(error as Error).message.includes(code) ? ` (${code})` : ''}`,
  );
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
  /** Where the answer came from, after redirects. */
  url: string;
}

export interface GetOptions {
  headers?: Record<string, string>;
  signal: AbortSignal;
  method?: 'GET' | 'HEAD';
  /** Attempts after the first one for a retryable status or a broken connection (default 4). */
  retries?: number;
  /** First backoff delay, doubled at each retry (default 250 ms). */
  retryDelayMs?: number;
}

/**
 * How long a request may wait, in three phases: for the TCP connection, from the request sent to
 * the response headers (one deadline, so headers dripped a byte at a time do not hold it), and
 * between two bytes of the body (a silence, so a large download at any steady rate is fine).
 */
export interface HttpTimeouts {
  connectMs: number;
  headerMs: number;
  idleMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: Readonly<HttpTimeouts> = { connectMs: 30_000, headerMs: 60_000, idleMs: 60_000 };

/** The settings (`.env` keys and environment variables) that change each phase's timeout, named in its error. */
export const TIMEOUT_SETTINGS: Readonly<Record<keyof HttpTimeouts, string>> = {
  connectMs: 'HTTP_CONNECT_TIMEOUT',
  headerMs: 'HTTP_HEADER_TIMEOUT',
  idleMs: 'HTTP_IDLE_TIMEOUT',
};

let timeouts: HttpTimeouts = { ...DEFAULT_HTTP_TIMEOUTS };

/**
 * Sets the timeouts of every request of this process: one process is one build (or one toolkit
 * command), whose registry, yum, runtime and spec source clients all come through here.
 */
export function setHttpTimeouts(next: HttpTimeouts): void {
  timeouts = { ...next };
}

export function httpTimeouts(): Readonly<HttpTimeouts> {
  return timeouts;
}

/** A phase of a request that outlasted its timeout; retried once, then named with the URL. */
export class HttpTimeoutError extends Error {
  override name = 'HttpTimeoutError';
  readonly code = 'ETIMEDOUT';
  constructor(phase: keyof HttpTimeouts, ms: number) {
    const what = { connectMs: 'no connection', headerMs: 'no response headers', idleMs: 'no body bytes' }[phase];
    super(`${what} within ${ms / 1000} s (${TIMEOUT_SETTINGS[phase]})`);
  }
}

/**
 * Arms the three timeouts on a request: the connect one on a new socket (a pooled one is
 * connected already), then the header one, then, once `response` says the headers came, the idle
 * one on the socket. A timeout destroys the request (and the body being read) with its error.
 */
function armTimeouts(
  request: ClientRequest,
  limits: HttpTimeouts,
  streamsBody: boolean,
): { response(message: IncomingMessage): void } {
  let timer: NodeJS.Timeout | undefined;
  const clear = () => clearTimeout(timer);
  const after = (phase: 'connectMs' | 'headerMs') => {
    clear();
    timer = setTimeout(() => request.destroy(new HttpTimeoutError(phase, limits[phase])), limits[phase]);
  };
  const silence = () => {
    const error = new HttpTimeoutError('idleMs', limits.idleMs);
    request.destroy(error);
  };
  // An upload of any length is bounded by its silences only; the wait for the answer starts
  // once its last byte is sent.
  const connected = () => {
    clear();
    if (!streamsBody) return after('headerMs');
    request.setTimeout(limits.idleMs, silence);
    request.once('finish', () => after('headerMs'));
  };
  request.once('socket', (socket) => {
    if (!socket.connecting) connected();
    else {
      after('connectMs');
      socket.once('connect', connected);
    }
  });
  request.once('close', clear);
  return {
    response(message) {
      clear();
      request.setTimeout(limits.idleMs, () => {
        const error = new HttpTimeoutError('idleMs', limits.idleMs);
        // The body's reader gets this error, not the bare "aborted" of a destroyed request.
        message.destroy(error);
        request.destroy(error);
      });
    },
  };
}

/** Methods that send a body (uploads to a registry); a body goes with its `content-length` header. */
export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  headers?: Record<string, string>;
  signal: AbortSignal;
  method?: Method;
  /** What to send: bytes, or a stream piped with backpressure (a file is never read into memory). */
  body?: Buffer | Readable;
}

/** One request, no redirect followed. */
export function requestOnce(url: string, options: RequestOptions): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new BuildError(`${url}: only http:// and https:// URLs can be fetched`));
      return;
    }
    const secure = target.protocol === 'https:';
    // One signal is shared by every download of a task, each request listening to it.
    setMaxListeners(0, options.signal);
    const request: ClientRequest = (secure ? httpsRequest : httpRequest)(
      target,
      {
        method: options.method ?? 'GET',
        headers: { 'user-agent': 'metalk8s-buildchain', ...options.headers },
        agent: secure ? pools().https : pools().http,
        signal: options.signal,
      },
      (message) => {
        armed.response(message);
        resolve({ status: message.statusCode ?? 0, headers: message.headers, body: withHelpers(message), url });
      },
    );
    request.once('error', reject);
    // A server that accepts and then says nothing would hold the build forever.
    const body = options.body;
    const armed = armTimeouts(request, timeouts, body !== undefined && !Buffer.isBuffer(body));
    if (body === undefined || Buffer.isBuffer(body)) {
      request.end(body);
      return;
    }
    // A failed read (the file vanished) fails the request with the reader's error.
    body.once('error', (error) => request.destroy(error));
    body.pipe(request);
  });
}

/** One request, redirects followed (at most 5); `authorization` never leaves its origin. */
export async function requestFollowing(url: string, options: GetOptions): Promise<HttpResponse> {
  let current = url;
  let headers = options.headers ?? {};
  for (let hop = 0; hop <= 5; hop += 1) {
    const response = await requestOnce(current, { method: options.method ?? 'GET', headers, signal: options.signal });
    const location = response.headers.location;
    if (response.status >= 300 && response.status < 400 && typeof location === 'string') {
      await response.body.dump();
      const next = new URL(location, current);
      if (next.origin !== new URL(current).origin) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      current = next.href;
      continue;
    }
    return response;
  }
  throw new BuildError(`${url}: too many redirects`);
}

/**
 * A GET retried with backoff on broken connections and retryable statuses; other answers return.
 * A timeout is retried once only: a server silent for that long twice in a row is not busy but
 * broken, and five full timeouts would hold the build for minutes before saying so.
 */
export async function getWithRetries(url: string, options: GetOptions): Promise<HttpResponse> {
  const retries = options.retries ?? 4;
  const delay = options.retryDelayMs ?? 250;
  let timedOut = 0;
  for (let attempt = 0; ; attempt += 1) {
    let response: HttpResponse;
    try {
      response = await requestFollowing(url, options);
    } catch (error) {
      if (error instanceof HttpTimeoutError) timedOut += 1;
      if (options.signal.aborted || attempt >= retries || timedOut > 1 || error instanceof BuildError)
        throw networkError(url, error);
      await sleep(delay * 2 ** attempt, options.signal);
      continue;
    }
    if (RETRYABLE_STATUS.has(response.status) && attempt < retries) {
      response.body.resume();
      await sleep(delay * 2 ** attempt, options.signal);
      continue;
    }
    return response;
  }
}

/** Why a probe failed, in a few words: a timeout, the system's code (ECONNREFUSED), or the message. */
export function failureReason(error: unknown, timeoutMs: number): string {
  if ((error as Error).name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  return (
    (error as { cause?: { code?: string } }).cause?.code ??
    (error as { code?: string }).code ??
    (error as Error).message
  );
}

/**
 * A download source for BlobStore.ingest over plain HTTP: asks for the bytes from `offset` on;
 * a 206 answer resumes there, a 200 starts again from 0. `what` names the content in errors.
 */
export function rangeSource(url: string, signal: AbortSignal, what: string) {
  return async (offset: number): Promise<{ body: HttpResponse['body']; start: number }> => {
    const response = await getWithRetries(url, { signal, headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
    if (response.status === 206) return { body: response.body, start: offset };
    if (response.status === 200) return { body: response.body, start: 0 };
    await response.body.dump();
    throw new BuildError(`${url}: HTTP ${response.status} (${what})`);
  };
}

/** Whether `url` answers 200 (GET, or HEAD for large files) within the timeout; a reason when not. */
export async function probe(
  url: string,
  options: { method?: 'GET' | 'HEAD'; timeoutMs?: number } = {},
): Promise<string | undefined> {
  const timeoutMs = options.timeoutMs ?? 5000;
  try {
    const response = await requestFollowing(url, {
      method: options.method ?? 'GET',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body.dump();
    return response.status === 200 ? undefined : `HTTP ${response.status}`;
  } catch (error) {
    return failureReason(error, timeoutMs);
  }
}
