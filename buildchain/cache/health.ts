// The fault policy of the remote cache: it is an accelerator, never a dependency. The first
// failure of the cache itself (no answer, 5xx, a refused push, bad credentials) is said once, in
// one line naming the setting, and the cache is not asked again in this run. A corrupt entry is
// said once per entry and refused; the cache stays in use for the others.
import { errorMessage } from '../errors.ts';
import { DigestMismatchError } from '../store/sha256.ts';

/** A cache entry whose content does not match what it declares (a flipped byte, a replaced blob). */
export class CorruptEntryError extends DigestMismatchError {
  override name = 'CorruptEntryError';
}

export class CacheHealth {
  #down: string | undefined;
  #probed: Promise<void> | undefined;
  readonly #said = new Set<string>();

  /**
   * @param setting how the user named the cache (`CACHE_REGISTRY=host:port/repository`)
   * @param probe asked once, before the first request: a cache that is not there costs seconds,
   *   not the connection's idle timeout at every request
   * @param warn where the run's warnings go; set by each run (the engine's reporter)
   */
  constructor(
    readonly setting: string,
    readonly probe: () => Promise<void> = async () => {},
    public warn: (message: string) => void = (message) => process.stderr.write(`warning: ${message}\n`),
  ) {}

  /** False once the cache has failed in this run: nothing more is asked of it. */
  get usable(): boolean {
    return this.#down === undefined;
  }

  /** Whether the cache may be asked now: it answered its probe and has not failed since. */
  async ready(): Promise<boolean> {
    if (!this.usable) return false;
    try {
      await (this.#probed ??= this.probe());
    } catch (error) {
      this.fail(error);
    }
    return this.usable;
  }

  /** Runs `work` against the cache; a failure is said (once) and answered with `fallback`. */
  async guard<T>(what: string, work: () => Promise<T>, fallback: T): Promise<T> {
    if (!(await this.ready())) return fallback;
    try {
      return await work();
    } catch (error) {
      this.report(what, error);
      return fallback;
    }
  }

  /** A content that does not verify is a corrupt entry (`what`); any other failure is the cache's. */
  report(what: string, error: unknown): void {
    if (error instanceof DigestMismatchError) this.corrupt(what, error);
    else this.fail(error);
  }

  fail(error: unknown): void {
    if (this.#down !== undefined) return;
    this.#down = errorMessage(error);
    this.warn(`cache ${this.setting}: ${this.#down}; building without it`);
  }

  corrupt(what: string, error: unknown): void {
    if (this.#said.has(what)) return;
    this.#said.add(what);
    this.warn(`cache ${this.setting}: ${what} refused (${errorMessage(error)}); building it here instead`);
  }
}
