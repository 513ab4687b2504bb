// A client of the registry v2 / OCI distribution API: `/v2/` probe, token and basic auth,
// manifests by digest with content negotiation, blobs with Range, retries with backoff. This file
// reads; push.ts writes (uploads, manifests, referrers) through the same `request`.
// HTTP goes through buildchain/http.ts: one connection pool, our TLS roots, streamed bodies.
import type { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import {
  RETRYABLE_STATUS,
  isLoopback,
  networkError,
  requestFollowing,
  requestOnce,
  sleep,
  type HttpResponse,
  type Method,
} from '../http.ts';
import type { CredentialLookup, Credentials } from './credentials.ts';

export interface Endpoint {
  /** The registry as declared (`docker.io`): what error messages and REGISTRY_MIRRORS name. */
  readonly registry: string;
  /** Where requests go: `https://registry-1.docker.io`, or the mirror's origin. */
  readonly origin: string;
  readonly mirror: boolean;
}

/**
 * Where a registry's requests go: its mirror from REGISTRY_MIRRORS when one is set, else the
 * registry itself. HTTPS, except for loopback hosts and mirrors written with `http://`, which is
 * how a release engineer says "this mirror is plain HTTP on purpose".
 */
export function resolveEndpoint(registry: string, mirrors: ReadonlyMap<string, string>): Endpoint {
  const mirror = mirrors.get(registry);
  const target = mirror ?? (registry === 'docker.io' ? 'registry-1.docker.io' : registry);
  if (/^https?:\/\//.test(target))
    return { registry, origin: target.replace(/\/+$/, ''), mirror: mirror !== undefined };
  const host = target.replace(/\/+$/, '');
  return { registry, origin: `${isLoopback(host) ? 'http' : 'https'}://${host}`, mirror: mirror !== undefined };
}

export interface ClientOptions {
  credentials: CredentialLookup;
  /** Attempts after the first one for a 5xx/429 answer or a broken connection. */
  retries?: number;
  /** First backoff delay; doubled at each retry. */
  retryDelayMs?: number;
}

export type Response = HttpResponse;

export interface SendOptions {
  headers?: Record<string, string>;
  /** Makes the body of one attempt (a fresh file stream each time). */
  body?: () => Buffer | Readable;
  /** Attempts after the first one (default: the client's). */
  retries?: number;
  signal: AbortSignal;
}

/** The token scope that reads a repository; `pushScope` also writes it. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

const MAX_MANIFEST_BYTES = 4 << 20;
/** A token answer is a few kilobytes of JSON; an error body is read only for its first lines. */
const MAX_TOKEN_BYTES = 1 << 20;
const MAX_ERROR_BYTES = 64 << 10;

export class RegistryClient {
  readonly #tokens = new Map<string, string>();
  readonly #retries: number;
  readonly #delay: number;

  constructor(
    readonly endpoint: Endpoint,
    readonly options: ClientOptions,
  ) {
    this.#retries = options.retries ?? 4;
    this.#delay = options.retryDelayMs ?? 250;
  }

  /** Answers the `/v2/` probe's HTTP status (200 or 401 both mean "a registry is here"). */
  async ping(signal: AbortSignal): Promise<number> {
    const response = await requestOnce(`${this.endpoint.origin}/v2/`, { signal });
    await response.body.dump();
    return response.status;
  }

  /**
   * A manifest as served (bytes unchanged), its media type, and the digest the registry says it
   * has (`Docker-Content-Digest`, when sent): asked by tag, that header is all that names it.
   */
  async manifest(
    repository: string,
    reference: string,
    accept: string,
    signal: AbortSignal,
  ): Promise<{ bytes: Buffer; mediaType: string; url: string; digestHeader?: string }> {
    const response = await this.send('GET', repository, `manifests/${reference}`, { accept }, signal);
    if (response.status !== 200) throw await this.failure(response, `manifest ${repository}@${reference}`);
    const bytes = await response.body.bytes(
      MAX_MANIFEST_BYTES,
      () => new BuildError(`${response.url}: manifest larger than ${MAX_MANIFEST_BYTES} bytes`),
    );
    const type = String(response.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const digestHeader = response.headers['docker-content-digest'];
    return {
      bytes,
      mediaType: type,
      url: response.url,
      ...(typeof digestHeader === 'string' ? { digestHeader: digestHeader.trim() } : {}),
    };
  }

  /** A blob's bytes from `offset` on (where the server honours Range), and where they start. */
  async blob(
    repository: string,
    digest: string,
    offset: number,
    signal: AbortSignal,
  ): Promise<{ body: Readable; start: number; url: string }> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    let response = await this.send('GET', repository, `blobs/${digest}`, headers, signal);
    if (response.status === 416 && offset > 0) {
      await response.body.dump();
      response = await this.send('GET', repository, `blobs/${digest}`, {}, signal);
    }
    if (response.status === 206) return { body: response.body, start: offset, url: response.url };
    if (response.status === 200) return { body: response.body, start: 0, url: response.url };
    throw await this.failure(response, `blob ${repository}@${digest}`);
  }

  /** A request to `/v2/<repository>/<path>`, authenticated as the registry asks, retried when it may help. */
  send(
    method: 'GET' | 'HEAD',
    repository: string,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Response> {
    return this.request(method, `${this.endpoint.origin}/v2/${repository}/${path}`, { headers, signal }, [
      pullScope(repository),
    ]);
  }

  /**
   * A request to any URL of this registry (an upload's Location), authorized for `scopes`
   * (`repository:<name>:pull,push`...). A body is made again by `options.body` for each attempt, so
   * a retry re-reads the file rather than keeping it in memory; `retries: 0` leaves resuming to the
   * caller (an upload chunk already half received must not be sent again as is). GETs and HEADs
   * follow redirects; a request with a body does not (its body would have to be sent again).
   */
  async request(method: Method, url: string, options: SendOptions, scopes: readonly string[]): Promise<Response> {
    const { signal } = options;
    const retries = options.retries ?? this.#retries;
    const key = scopes.join(' ');
    let authenticated = false;
    for (let attempt = 0; ; attempt += 1) {
      let response: Response;
      try {
        // Credentials go to the registry's origin only, wherever an upload's Location points.
        const own = new URL(url).origin === new URL(this.endpoint.origin).origin;
        const headers = { ...options.headers, ...(own ? this.#authorization(key) : {}) };
        response =
          method === 'GET' || method === 'HEAD'
            ? await requestFollowing(url, { method, headers, signal })
            : await requestOnce(url, { method, headers, signal, ...(options.body ? { body: options.body() } : {}) });
      } catch (error) {
        if (signal.aborted || attempt >= retries || error instanceof BuildError) throw networkError(url, error);
        await sleep(this.#delay * 2 ** attempt, signal);
        continue;
      }
      if (response.status === 401 && !authenticated) {
        authenticated = true;
        const challenge = String(response.headers['www-authenticate'] ?? '');
        await response.body.dump();
        await this.#authenticate(challenge, scopes, url, signal);
        attempt -= 1;
        continue;
      }
      if (RETRYABLE_STATUS.has(response.status) && attempt < retries) {
        response.body.resume();
        await sleep(this.#delay * 2 ** attempt, signal);
        continue;
      }
      return response;
    }
  }

  #authorization(scope: string): Record<string, string> {
    const value = this.#tokens.get(scope) ?? this.#tokens.get('*');
    return value ? { authorization: value } : {};
  }

  async #authenticate(challenge: string, scopes: readonly string[], url: string, signal: AbortSignal): Promise<void> {
    const key = scopes.join(' ');
    const host = new URL(this.endpoint.origin).host;
    const credentials =
      this.options.credentials(this.endpoint.mirror ? host : this.endpoint.registry) ?? this.options.credentials(host);
    const scheme = challenge.split(/\s+/, 1)[0]!.toLowerCase();
    if (scheme === 'basic') {
      if (!credentials) throw missingCredentials(url, this.endpoint.registry);
      this.#tokens.set('*', basic(credentials));
      return;
    }
    if (scheme !== 'bearer') throw new BuildError(`${url}: answered 401 with an unsupported challenge "${challenge}"`);
    const params = parseChallenge(challenge);
    if (!params.realm) throw new BuildError(`${url}: Bearer challenge without realm: "${challenge}"`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    // What we need (push, a mount's source) and what the registry named, which may say more.
    for (const wanted of new Set([...scopes, ...(params.scope ? [params.scope] : [])]))
      tokenUrl.searchParams.append('scope', wanted);
    const headers: Record<string, string> = credentials ? { authorization: basic(credentials) } : {};
    const response = await requestOnce(tokenUrl.href, { headers, signal });
    if (response.status === 401 || response.status === 403) {
      await response.body.dump();
      throw credentials
        ? new BuildError(
            `${tokenUrl.origin}${tokenUrl.pathname}: refused the credentials for ${this.endpoint.registry} (HTTP ${response.status})`,
          )
        : missingCredentials(url, this.endpoint.registry);
    }
    if (response.status !== 200) {
      await response.body.dump();
      throw new BuildError(`${tokenUrl.href}: token request answered HTTP ${response.status}`);
    }
    const bytes = await response.body.bytes(
      MAX_TOKEN_BYTES,
      () => new BuildError(`${tokenUrl.href}: token answer larger than ${MAX_TOKEN_BYTES} bytes`),
    );
    let body: { token?: unknown; access_token?: unknown } | null;
    try {
      body = JSON.parse(bytes.toString('utf8')) as typeof body;
    } catch {
      throw new BuildError(`${tokenUrl.href}: token answer is not JSON`);
    }
    const token = body?.token ?? body?.access_token;
    if (typeof token !== 'string' || !token)
      throw new BuildError(`${tokenUrl.href}: token answer has neither "token" nor "access_token"`);
    this.#tokens.set(key, `Bearer ${token}`);
  }

  /** The registry's error answer as one line naming the URL, the operation and the registry's codes. */
  async failure(response: Response, what: string): Promise<BuildError> {
    let detail = '';
    try {
      // Only the start is wanted: past the limit the body is dropped, and the status alone is reported.
      const text = (await response.body.bytes(MAX_ERROR_BYTES)).toString('utf8');
      const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      detail = parsed.errors?.map((e) => `${e.code ?? ''} ${e.message ?? ''}`.trim()).join('; ') ?? '';
    } catch {
      // Not a registry error body: the status says enough.
    }
    return new BuildError(`${response.url}: ${what} answered HTTP ${response.status}${detail ? ` (${detail})` : ''}`);
  }
}

function basic(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

function missingCredentials(url: string, registry: string): BuildError {
  return new BuildError(
    `${url}: ${registry} requires credentials; add them with \`skopeo login\` or \`docker login\` (~/.docker/config.json, or the file named by REGISTRY_AUTH_FILE)`,
  );
}

/** `Bearer realm="https://auth",service="registry",scope="repository:x:pull"` → its parameters. */
export function parseChallenge(challenge: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of challenge.replace(/^\S+\s+/, '').matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) {
    params[match[1]!.toLowerCase()] = (match[2] ?? match[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return params;
}
