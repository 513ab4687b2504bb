// Persistent engine state under BUILD_ROOT/.engine: which tasks succeeded with which inputs,
// and the digest of every file seen. A snapshot (replaced by rename) plus an append-only
// journal: each finished task is one appended JSON line, so a build killed with -9 loses
// nothing it completed, and a torn last line is simply ignored. The journal outlives a run
// until it is worth folding into the snapshot: a re-run after one edit appends a few lines
// instead of rewriting a state of 20,000 tasks. The snapshot is written with
// V8's serializer: it reads back Maps directly, five times faster than JSON here, and it is
// read at every run. One written by another Node version may not read back: it is then
// reported as unreadable and the build starts afresh, as the state is only a cache.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { deserialize, serialize } from 'node:v8';
import { join } from 'node:path';

// Records are tuples, not objects: the state of a 20,000-task build is read at every run, and
// its size is most of a no-op build's time.

/** What we knew of a file when we last hashed it; digest: 128 bits of sha256, base64url. */
export type FileRecord = readonly [mtimeMs: number, size: number, ino: number, digest: string];

/** The inputs a task saw at its last success. */
export type TaskRecord = readonly [
  /** Hash of the recorded uptodate values and command lines. */
  signature: string,
  /** Hash of the file_dep list, so that digests can be kept by position. */
  depPaths: string,
  /** Digest of each file_dep, in file_dep order. */
  depDigests: readonly string[],
];

interface Snapshot {
  format: typeof FORMAT;
  files: Map<string, FileRecord>;
  tasks: Map<string, TaskRecord>;
  ignored: string[];
}

type JournalEntry =
  | { file: [string, FileRecord | null] }
  | { task: [string, TaskRecord | null] }
  | { ignore: [string, boolean] };

const FORMAT = 4;

/** A journal smaller than this is never folded into the snapshot: replaying it costs nothing. */
const JOURNAL_MIN_FOLD = 64 * 1024;

export class StateStore {
  private files = new Map<string, FileRecord>();
  private tasks = new Map<string, TaskRecord>();
  private ignored = new Set<string>();
  private journalFd: number | undefined;
  /** Journal entries the snapshot does not hold. */
  private pending = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** The journal ends with a torn line: what is appended after it would not be read back. */
  private torn = false;
  readonly snapshotPath: string;
  readonly journalPath: string;
  /** Set when the snapshot could not be read: the caller may warn that everything will run. */
  readonly loadProblem: string | undefined;

  static snapshotPath(dir: string): string {
    return join(dir, 'state.v8');
  }

  static journalPath(dir: string): string {
    return join(dir, 'journal.jsonl');
  }

  constructor(readonly dir: string) {
    this.snapshotPath = StateStore.snapshotPath(dir);
    this.journalPath = StateStore.journalPath(dir);
    this.loadProblem = this.load();
  }

  file(path: string): FileRecord | undefined {
    return this.files.get(path);
  }

  task(name: string): TaskRecord | undefined {
    return this.tasks.get(name);
  }

  isIgnored(name: string): boolean {
    return this.ignored.has(name);
  }

  setFile(path: string, record: FileRecord | null): void {
    if (record) this.files.set(path, record);
    else this.files.delete(path);
    this.append({ file: [path, record] });
  }

  setTask(name: string, record: TaskRecord | null): void {
    if (record) this.tasks.set(name, record);
    else if (!this.tasks.delete(name)) return;
    this.append({ task: [name, record] });
  }

  setIgnored(name: string, ignored: boolean): void {
    if (ignored === this.ignored.has(name)) return;
    if (ignored) this.ignored.add(name);
    else this.ignored.delete(name);
    this.append({ ignore: [name, ignored] });
  }

  forgetAll(): void {
    for (const name of [...this.tasks.keys()]) this.setTask(name, null);
  }

  /**
   * Ends the run's journal; folds it into a new snapshot once it has grown to an eighth of the
   * snapshot's size (or when asked to), so that a run that changed a few records writes a few
   * lines, not the whole state. Cheap no-op when nothing changed.
   */
  save(options: { fold?: boolean } = {}): void {
    if (this.journalFd !== undefined) {
      closeSync(this.journalFd);
      this.journalFd = undefined;
    }
    if (this.pending === 0) return;
    if (!options.fold && !this.torn && this.journalBytes <= Math.max(JOURNAL_MIN_FOLD, this.snapshotBytes / 8)) return;
    const snapshot: Snapshot = {
      format: FORMAT,
      files: this.files,
      tasks: this.tasks,
      ignored: [...this.ignored],
    };
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.snapshotPath}.tmp-${process.pid}`;
    const bytes = serialize(snapshot);
    writeFileSync(tmp, bytes);
    renameSync(tmp, this.snapshotPath);
    // Replaying the journal over the new snapshot would be harmless: removing it is only tidiness.
    rmSync(this.journalPath, { force: true });
    this.pending = 0;
    this.journalBytes = 0;
    this.snapshotBytes = bytes.length;
    this.torn = false;
  }

  private append(entry: JournalEntry): void {
    if (this.journalFd === undefined) {
      mkdirSync(this.dir, { recursive: true });
      this.journalFd = openSync(this.journalPath, 'a');
    }
    const line = `${JSON.stringify(entry)}\n`;
    this.journalBytes += writeSync(this.journalFd, line);
    this.pending += 1;
  }

  private load(): string | undefined {
    let problem: string | undefined;
    try {
      const bytes = readFileSync(this.snapshotPath);
      this.snapshotBytes = bytes.length;
      const snapshot = deserialize(bytes) as Snapshot;
      if (snapshot?.format !== FORMAT) throw new Error(`format ${String(snapshot?.format)} is not ${FORMAT}`);
      this.files = snapshot.files;
      this.tasks = snapshot.tasks;
      this.ignored = new Set(snapshot.ignored);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        problem = `${this.snapshotPath} is unreadable (${(error as Error).message}); every task will run`;
      }
    }
    let journal: string;
    try {
      journal = readFileSync(this.journalPath, 'utf8');
    } catch {
      return problem;
    }
    this.journalBytes = Buffer.byteLength(journal);
    for (const line of journal.split('\n')) {
      if (!line) continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        this.torn = true; // a line torn by a crash: everything after it is unknown
        break;
      }
      this.replay(entry);
      this.pending += 1;
    }
    return problem;
  }

  private replay(entry: JournalEntry): void {
    if ('file' in entry) {
      const [path, record] = entry.file;
      if (record) this.files.set(path, record);
      else this.files.delete(path);
    } else if ('task' in entry) {
      const [name, record] = entry.task;
      if (record) this.tasks.set(name, record);
      else this.tasks.delete(name);
    } else if ('ignore' in entry) {
      const [name, ignored] = entry.ignore;
      if (ignored) this.ignored.add(name);
      else this.ignored.delete(name);
    }
  }
}
