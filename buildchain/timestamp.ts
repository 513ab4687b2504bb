// Build times as every artifact records them, fixed by SOURCE_DATE_EPOCH for reproducible output.

/**
 * A build time as RFC 3339 to the second (`2020-09-13T12:26:40Z`): SOURCE_DATE_EPOCH's value when
 * given, else now. What product.txt, SBOMs and image configs record.
 */
export function buildTimestamp(seconds: number = Math.floor(Date.now() / 1000)): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
