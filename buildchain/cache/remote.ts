// CACHE_REGISTRY: the client that talks to the registry and repository holding the shared cache
// (the setting itself is checked in settings.ts). The cache's client gives up fast (one retry): a
// cache that does not answer must cost a build seconds, not the minutes a pull of a needed input
// may wait.
import { errorMessage } from '../errors.ts';
import { loadCredentials } from '../oci/credentials.ts';
import type { Target } from '../oci/push.ts';
import { RegistryClient, resolveEndpoint } from '../oci/registry.ts';
import { CacheHealth } from './health.ts';
import { parseCacheRegistry, type CacheSettings } from './settings.ts';

/** How long the cache's `/v2/` may take to answer the first time before the run goes on without it. */
const PROBE_MS = 5000;

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
