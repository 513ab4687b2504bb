// Pulling many images at once: one blob store, one registry client per registry (each keeps
// its tokens), one limit on parallel blob downloads whatever the number of images in flight.
import { limitConcurrency } from '../concurrency.ts';
import { BuildError } from '../errors.ts';
import { failureReason } from '../http.ts';
import { loadCredentials, type CredentialLookup } from './credentials.ts';
import { MANIFEST_ACCEPT, type Platform } from './media-types.ts';
import { pullImage, type PulledImage } from './pull.ts';
import { DigestMismatchError, parseDigest, sha256Digest } from '../store/sha256.ts';
import { RegistryClient, resolveEndpoint } from './registry.ts';
import type { BlobStore } from '../store/blob-store.ts';

export interface PullerOptions {
  store: BlobStore;
  /** REGISTRY_MIRRORS: registry as declared → mirror host (or URL). */
  mirrors?: ReadonlyMap<string, string>;
  credentials?: CredentialLookup;
  /** Blob downloads running at once, over all images. */
  concurrency?: number;
  retryDelayMs?: number;
}

export interface Unreachable {
  registry: string;
  origin: string;
  reason: string;
}

export class ImagePuller {
  readonly #clients = new Map<string, RegistryClient>();
  readonly #schedule;
  #credentials: CredentialLookup | undefined;

  constructor(readonly options: PullerOptions) {
    this.#schedule = limitConcurrency(options.concurrency ?? 8);
  }

  client(registry: string): RegistryClient {
    let client = this.#clients.get(registry);
    if (!client) {
      this.#credentials ??= this.options.credentials ?? loadCredentials();
      client = new RegistryClient(resolveEndpoint(registry, this.options.mirrors ?? new Map()), {
        credentials: this.#credentials,
        ...(this.options.retryDelayMs !== undefined ? { retryDelayMs: this.options.retryDelayMs } : {}),
      });
      this.#clients.set(registry, client);
    }
    return client;
  }

  pull(
    image: { registry: string; repository: string; digest: string },
    options: { describe: string; platform?: Platform; signal: AbortSignal; onBytes?: (n: number) => void },
  ): Promise<PulledImage> {
    return pullImage({
      client: this.client(image.registry),
      store: this.options.store,
      repository: image.repository,
      digest: image.digest,
      schedule: this.#schedule,
      ...options,
    });
  }

  /**
   * The digest a registry serves `tag` under: the sha256 of the manifest it answers (an index for
   * a multi-platform tag), which must agree with its `Docker-Content-Digest` header when it sends
   * one. The manifest goes into the store, so the pull that follows asks for blobs only.
   */
  async resolveTag(
    image: { registry: string; repository: string; tag: string },
    describe: string,
    signal: AbortSignal,
  ): Promise<string> {
    const answer = await this.client(image.registry).manifest(image.repository, image.tag, MANIFEST_ACCEPT, signal);
    const digest = sha256Digest(answer.bytes);
    if (answer.digestHeader !== undefined) {
      const said = parseDigest(answer.digestHeader, `${answer.url}: Docker-Content-Digest`);
      if (said !== digest)
        throw new DigestMismatchError(
          `${answer.url}: ${describe}: the manifest served has digest ${digest}, but Docker-Content-Digest says ${said}`,
        );
    }
    await this.options.store.put(digest, answer.bytes, `${describe} manifest`);
    return digest;
  }

  /**
   * Asks `/v2/` of each registry (or its mirror) at once; any HTTP answer means it is there.
   * Resolves with those that did not answer within `timeoutMs`, so a build on a machine without
   * access stops in seconds instead of after many retries.
   */
  async unreachable(registries: Iterable<string>, timeoutMs = 5000): Promise<Unreachable[]> {
    const results = await Promise.all(
      [...new Set(registries)].sort().map(async (registry): Promise<Unreachable | undefined> => {
        const client = this.client(registry);
        try {
          await client.ping(AbortSignal.timeout(timeoutMs));
          return undefined;
        } catch (error) {
          return { registry, origin: client.endpoint.origin, reason: failureReason(error, timeoutMs) };
        }
      }),
    );
    return results.filter((entry): entry is Unreachable => entry !== undefined);
  }
}

/** The error a build stops with when registries do not answer: each one, and how to mirror it. */
export function unreachableError(unreachable: readonly Unreachable[], mirrorsKey = 'REGISTRY_MIRRORS'): BuildError {
  const lines = unreachable.map((entry) => `  ${entry.registry} (${entry.origin}): ${entry.reason}`);
  const example = unreachable.map((entry) => `${entry.registry}=<mirror host:port>`).join(',');
  return new BuildError(
    `cannot reach ${unreachable.length} container registr${unreachable.length === 1 ? 'y' : 'ies'}:\n${lines.join('\n')}\n` +
      `point them at reachable mirrors with ${mirrorsKey} in .env`,
    [`${mirrorsKey}=${example}`],
  );
}
