// Error kinds shared by every command line: they map to the documented exit codes.

/** Bad command-line usage: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A failure caused by the user's inputs or environment (a file, a field, a URL):
 * exit code 1, message printed on one line without a stack trace.
 */
export class BuildError extends Error {
  override name = 'BuildError';
  /**
   * @param settings the `.env` lines that would fix it (`REGISTRY_MIRRORS=...`), said once at the
   * end of a build with those of every other failure, ready to paste.
   */
  constructor(
    message: string,
    readonly settings: readonly string[] = [],
  ) {
    super(message);
  }
}

/**
 * The `.env` lines a failure names (BuildError's settings). Read by shape: a task file bundled on
 * its own (./build.ts -f) has its own copy of BuildError, which instanceof would not recognise.
 */
export function settingsOf(error: unknown): readonly string[] {
  const settings = (error as { settings?: unknown } | null)?.settings;
  return Array.isArray(settings) ? settings.filter((line): line is string => typeof line === 'string') : [];
}

/**
 * Whether `error` is a BuildError (or InternalError), by shape as settingsOf: one thrown by a task
 * file bundled on its own (./build.ts -f) is an instance of that bundle's copy of the class.
 */
export function isBuildError(error: unknown): error is BuildError {
  return (
    error instanceof BuildError || (error instanceof Error && ['BuildError', 'InternalError'].includes(error.name))
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A broken promise of the code itself (a plan the writer did not follow): still one line with no
 * stack trace, since the user cannot act on one, but marked so that it gets reported.
 */
export class InternalError extends BuildError {
  override name = 'InternalError';
  constructor(message: string) {
    super(`internal error: ${message} (please report it)`);
  }
}
