// CACHE_REGISTRY and CACHE_MODE as settings: their types and the check of CACHE_REGISTRY's form.
// Apart from the client (remote.ts) on purpose: tasks/config.ts checks them for every command of
// ./build.ts and ./toolkit.ts, which must not load the registry client (and Node's https and tls)
// to do so: `iso create` paid 10 to 30 ms for it.
import { BuildError } from '../errors.ts';
import type { CredentialLookup } from '../oci/credentials.ts';

export type CacheMode = 'readwrite' | 'read';

export interface CacheSettings {
  /** `host[:port]/repository`, or with `http://` / `https://` in front to choose the scheme. */
  registry: string;
  mode: CacheMode;
  credentials?: CredentialLookup;
  /** First backoff delay of the one retry (tests make it short). */
  retryDelayMs?: number;
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
