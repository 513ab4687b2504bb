// A farm of two runners sharing a docker-registry as their cache (CACHE_REGISTRY), for
// `npm run demo -- --farm` and `npm run bench -- farm`: runner A builds the demo's ISO into an
// empty build root from the demo's servers and fills the cache; the servers stop; runner B,
// another empty build root, builds from the cache alone. Both ISOs must have the same sha256.
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { phaseSpans } from '../buildchain/engine/report.ts';
import { startDockerRegistry } from '../test/servers.ts';
import { build, PHASES, type JsonRun } from './build.ts';
import type { Demo } from './inputs.ts';

export interface Runner {
  /** Wall time of its `./build.ts iso`, seconds. */
  seconds: number;
  /** Tasks whose actions ran. */
  ran: number;
  /** Tasks whose targets came from the cache. */
  fromCache: number;
  /** Bytes of the answers to its GETs, as the cache's access log counts them. */
  cacheBytes: number;
  /**
   * Spans of the build's phases (demo/build.ts), restores from the cache included, and `between
   * tasks`: the wall time when no task ran (the process's start, the engine hashing a task's
   * file_dep before it starts, as the whole ISO tree before the ISO write).
   */
  phases: Record<string, number>;
  sha256: string;
}

/**
 * One round of the farm under `dir` (emptied first): a checkout of the demo's project with its
 * package lock committed (runners must agree on the closure), a cache with fresh storage, runner A
 * then runner B. Stops the demo's servers before B; throws when the two ISOs differ.
 */
export async function farmRound(
  demo: Demo,
  dir: string,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<{ a: Runner; b: Runner }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'cache'), { recursive: true });
  const project = join(dir, 'project');
  cpSync(demo.project, project, { recursive: true });
  await build(project, signal, { BUILD_ROOT: join(dir, 'lock') }, 'rpm_lock');
  const cache = await startDockerRegistry(join(dir, 'cache'));
  try {
    const runner = async (name: string): Promise<Runner> => {
      const buildRoot = join(dir, name);
      const logged = cache.log().length;
      const started = process.hrtime.bigint();
      const report = await build(project, signal, {
        BUILD_ROOT: buildRoot,
        CACHE_REGISTRY: `${cache.host}/demo-cache`,
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // A warning is a cache that failed: the build went on without it, so its time says nothing.
      if (report.warnings.length > 0) throw new Error(`runner ${name}: ${report.warnings.join('; ')}`);
      return {
        seconds,
        ran: report.tasks.filter((task) => task.executed).length,
        fromCache: report.tasks.filter((task) => task.cached).length,
        cacheBytes: servedBytes(cache.log().slice(logged)),
        phases: phases(report, seconds),
        sha256: readFileSync(join(buildRoot, 'SHA256SUM'), 'utf8').split(/\s/)[0]!,
      };
    };
    const a = await runner('a');
    say(`runner A: ${a.seconds.toFixed(1)} s, ${a.ran} tasks run, the cache filled; the input servers stop`);
    // Ports no longer answer, and the product's git repository is out of reach (moved aside: the
    // SBOM names METALK8S_SOURCE, which must stay): runner B can only take what the cache holds.
    await demo.stop();
    const aside = `${demo.productSource}.away`;
    renameSync(demo.productSource, aside);
    const b = await runner('b').finally(() => renameSync(aside, demo.productSource));
    say(
      `runner B: ${b.seconds.toFixed(1)} s, ${b.fromCache} results and ${(b.cacheBytes / 2 ** 20).toFixed(0)} MiB ` +
        `from the cache, ${b.ran} tasks run, no server`,
    );
    if (a.sha256 !== b.sha256) throw new Error(`the two runners' ISOs differ: ${a.sha256} and ${b.sha256}`);
    return { a, b };
  } finally {
    await cache.stop();
  }
}

/** A restored result is work of this runner on that task: its span counts in the task's phase. */
function phases(report: JsonRun, wall: number): Record<string, number> {
  const tasks = report.tasks.map((task) => ({ ...task, executed: task.executed || task.cached }));
  const spans = tasks
    .filter((task) => task.executed && task.started)
    .map((task) => [Date.parse(task.started!), Date.parse(task.started!) + task.elapsed * 1000] as const)
    .sort((x, y) => x[0] - y[0]);
  let busy = 0;
  let reached = Number.NEGATIVE_INFINITY;
  for (const [start, end] of spans) {
    busy += Math.max(0, end - Math.max(start, reached));
    reached = Math.max(reached, end);
  }
  return { ...phaseSpans(tasks, PHASES), 'between tasks': Math.round(wall * 1000 - busy) / 1000 };
}

/**
 * Bytes of the GET answers in lines of docker-registry's access log (combined log format:
 * `... "GET /v2/... HTTP/1.1" 200 1234 ...`): what its clients took from it.
 */
export function servedBytes(log: string): number {
  let bytes = 0;
  for (const match of log.matchAll(/"GET [^"]* HTTP\/[\d.]+" (?:200|206) (\d+)/g)) bytes += Number(match[1]);
  return bytes;
}
