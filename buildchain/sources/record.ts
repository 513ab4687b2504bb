// The record of a pinned source: which archive in the store holds which commit's tree
// (BUILD_ROOT/sources/<name>.json). Apart from git.ts so that reading the configuration, the SBOM
// or the offline inputs does not load the tar reader: every toolkit command reads the
// configuration, and `iso create` on a large tree must not carry what it never uses.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';
import { parseJsonText, readTextFile } from '../json-file.ts';
import type { BlobStore } from '../store/blob-store.ts';

/** Which archive in the store holds which commit's tree. */
export interface SourceRecord {
  commit: string;
  /** sha256:<hex> of the `git archive` tar. */
  archive: string;
  /**
   * `git describe --always --long --tags` of the commit, taken where it was fetched (the tags are
   * there, not in the archive): what product.txt's GIT says offline. Absent in older records.
   */
  describe?: string;
}

const COMMIT = /^[0-9a-f]{40}$/;

export function sourceRecordFile(buildRoot: string, name: string): string {
  return join(buildRoot, 'sources', `${name}.json`);
}

export function readSourceRecord(file: string): SourceRecord | undefined {
  return existsSync(file) ? parseSourceRecord(readTextFile(file), file) : undefined;
}

/** A record from its text; errors name `where`. */
export function parseSourceRecord(text: string, where: string): SourceRecord {
  const record = parseJsonText<SourceRecord>(text, where, 'a source record');
  if (!COMMIT.test(String(record.commit)) || !/^sha256:[0-9a-f]{64}$/.test(String(record.archive))) {
    throw new BuildError(`${where}: not a source record (commit: 40 hex digits, archive: a sha256 digest)`);
  }
  if (record.describe !== undefined && (typeof record.describe !== 'string' || !/^[\x21-\x7e]+$/.test(record.describe)))
    throw new BuildError(`${where}: describe must be one word of printable characters (git describe's output)`);
  return record;
}

/** The stored archive of the pinned commit, when an earlier build (or an import) left it. */
export async function storedSource(
  store: BlobStore,
  record: SourceRecord | undefined,
  commit: string,
): Promise<string | undefined> {
  return record?.commit === commit && (await store.has(record.archive)) ? record.archive : undefined;
}

export async function writeSourceRecord(file: string, record: SourceRecord): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
}
