// One build at a time per BUILD_ROOT. The lock file names its holder; a holder that died
// (kill -9, power loss) is detected by its pid and the lock taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildError } from '../errors.ts';

interface Holder {
  pid: number;
  host: string;
  started: string;
  command: string;
}

export class BuildLock {
  private held = false;
  private readonly releaseOnExit = (): void => this.release();

  constructor(readonly path: string) {}

  /** Takes the lock, waiting up to `waitSeconds` for a live holder to finish. */
  async acquire(waitSeconds: number, onWait?: (holder: string) => void): Promise<void> {
    const deadline = Date.now() + waitSeconds * 1000;
    let announced = false;
    for (;;) {
      const holder = this.tryCreate();
      if (!holder) break;
      if (!isAlive(holder)) {
        rmSync(this.path, { force: true }); // its owner is gone: a stale lock
        continue;
      }
      const who = `pid ${holder.pid} on ${holder.host} (${holder.command}, since ${holder.started})`;
      if (Date.now() >= deadline) {
        throw new BuildError(
          `${this.path}: another build holds this BUILD_ROOT: ${who}; ` +
            `wait for it, or pass --lock-wait SECONDS to wait (use a different BUILD_ROOT to build in parallel)`,
        );
      }
      if (!announced) onWait?.(who);
      announced = true;
      await sleep(200);
    }
    this.held = true;
    process.once('exit', this.releaseOnExit);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    process.removeListener('exit', this.releaseOnExit);
    rmSync(this.path, { force: true });
  }

  /** Creates the lock file; returns the current holder when it already exists. */
  private tryCreate(): Holder | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        mkdirSync(dirname(this.path), { recursive: true }); // first build on this BUILD_ROOT
        return this.tryCreate();
      }
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        return JSON.parse(readFileSync(this.path, 'utf8')) as Holder;
      } catch {
        // Being written by its creator right now (look again shortly), or torn by a crash long ago.
        const age = Date.now() - (statSync(this.path, { throwIfNoEntry: false })?.mtimeMs ?? 0);
        return {
          pid: age > 2000 ? -1 : process.pid,
          host: age > 2000 ? hostname() : '',
          started: '',
          command: 'unknown',
        };
      }
    }
    const holder: Holder = {
      pid: process.pid,
      host: hostname(),
      started: new Date().toISOString(),
      command: process.argv.slice(2).join(' '),
    };
    writeSync(fd, JSON.stringify(holder));
    closeSync(fd);
    return undefined;
  }
}

function isAlive(holder: Holder): boolean {
  if (holder.host === '') return true;
  if (holder.pid <= 0) return false;
  if (holder.host !== hostname()) return true; // cannot check another machine's processes
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
