// CACHE_REGISTRY: which registry and repository hold the shared cache, and the client that talks
// to it. The cache's client gives up fast (one retry): a cache that does not answer must cost a
// build seconds, not the minutes a pull of a needed input may wait.
import { BuildError, errorMessage } from '../errors.ts';
import { loadCredentials, type CredentialLookup } from '../oci/credentials.ts';
import type { Target } from '../oci/push.ts';
import { RegistryClient, resolveEndpoint } from '../oci/registry.ts';
import { CacheHealth } from './health.ts';

export type CacheMode = 'readwrite' | 'read';

/** How long the cache's `/v2/` may take to answer the first time before the run goes on without it. */
const PROBE_MS = 5000;

export interface CacheSettings {
  /** `host[:port]/repository`, or with `http://` / `https://` in front to choose the scheme. */
  registry: string;
  mode: CacheMode;
  credentials?: CredentialLookup;
  /** First backoff delay of the one retry (tests make it short). */
  retryDelayMs?: number;
}

/** One cache repository: its client, its health for this run, and whether it may be written. */
export class CacheRemote {
  readonly health: CacheHealth;
  readonly target: Target;
  readonly writable: boolean;

  constructor(readonly settings: CacheSettings) {
    const { host, repository } = parseCacheRegistry(settings.registry);
    this.writable = settings.mode === 'readwrite';
    const client = new RegistryClient(resolveEndpoint(host, new Map()), {
      credentials: settings.credentials ?? loadCredentials(),
      retries: 1,
      retryDelayMs: settings.retryDelayMs ?? 200,
    });
    this.health = new CacheHealth(`CACHE_REGISTRY=${settings.registry}`, async () => {
      // Any HTTP answer of `/v2/` (200, 401) means a registry is there.
      try {
        await client.ping(AbortSignal.timeout(PROBE_MS));
      } catch (error) {
        const reason =
          (error as Error).name === 'TimeoutError' ? `no answer within ${PROBE_MS / 1000} s` : errorMessage(error);
        throw new Error(`${client.endpoint.origin}/v2/: ${reason}`);
      }
    });
    // The cache outlives tasks: a task's Ctrl-C ends its own requests through the engine's
    // signal, the cache's bookkeeping requests are short.
    this.target = { client, repository, signal: new AbortController().signal };
  }
}

/** `host:port/repository` (the repository may have several `/`-separated components). */
export function parseCacheRegistry(value: string): { host: string; repository: string } {
  const match =
    /^((?:https?:\/\/)?[^/\s]+)\/([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$/.exec(
      value,
    );
  if (!match)
    throw new BuildError(
      `CACHE_REGISTRY=${value}: expected host[:port]/repository (a lowercase repository name, e.g. registry.example.com:5000/metalk8s-cache)`,
    );
  return { host: match[1]!, repository: match[2]! };
}
