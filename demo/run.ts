// `npm run demo [-- --size small|metalk8s]`: the whole chain on this machine with no network. It
// generates inputs served on 127.0.0.1 (demo/inputs.ts) into _build/demo/, builds the ISO with the
// real `./build.ts iso` on a project of its own, checks it with `./toolkit.ts verify`, builds again
// (a proven no-op), prints a summary and stops its servers, on Ctrl-C and on failure too.
// `--farm`: two runners sharing a docker-registry as their cache (CACHE_REGISTRY) instead.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { phaseSpans, type JsonTaskReport } from '../buildchain/engine/report.ts';
import { projectRoot } from '../buildchain/paths.ts';
import { parseArgs } from 'node:util';
import { startDockerRegistry } from '../test/servers.ts';
import { prepareDemo, SIZES, type Demo } from './inputs.ts';

const root = projectRoot();

interface JsonRun {
  ok: boolean;
  proven: boolean;
  elapsed: number;
  counts: Record<string, number>;
  tasks: (JsonTaskReport & { result: string; error: string | null })[];
}

/** The phases of a build, each the span of its tasks (from the JSON reporter). */
const PHASES = {
  'product source': /^_product_source$/,
  images: /^_image_(pull|build):/,
  packages: /^(_resolve_rpm_packages|_download_rpm_packages|_build_rpm_packages|_build_rpm_repositories)/,
  'salt tree': /^salt_tree:/,
  'ISO write': /^_iso_build:image$/,
  'checksums, provenance': /^_iso_(digest|provenance)/,
};

/** Runs a command of the project, its stderr shown as it comes; answers its stdout. */
function run(
  command: string,
  args: string[],
  signal: AbortSignal,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      signal,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

/** `./build.ts TASK` (iso) on a demo project; `env` overrides its .env (the environment wins). */
async function build(
  project: string,
  signal: AbortSignal,
  env: NodeJS.ProcessEnv = {},
  task = 'iso',
): Promise<JsonRun> {
  const { code, stdout } = await run(
    join(root, 'build.ts'),
    ['-f', join(project, 'tasks.ts'), '--reporter', 'json', task],
    signal,
    env,
  );
  let report: JsonRun;
  try {
    report = JSON.parse(stdout) as JsonRun;
  } catch {
    throw new Error(`./build.ts ${task} failed (exit ${code}) without a report`);
  }
  if (!report.ok) {
    const failed = report.tasks
      .filter((task) => task.result === 'fail')
      .map((task) => `  ${task.name}: ${task.error ?? ''}`);
    throw new Error(`./build.ts ${task} failed (exit ${code}):\n${failed.join('\n')}`);
  }
  return report;
}

function phases(report: JsonRun): string[] {
  return Object.entries(phaseSpans(report.tasks, PHASES))
    .filter(([, seconds]) => seconds > 0)
    .map(([phase, seconds]) => `${phase} ${seconds.toFixed(1)} s`);
}

/**
 * A farm of two runners sharing a docker-registry as their cache, on a checkout of the demo's
 * project with its package lock committed (runners must agree on the closure): A builds from the
 * demo's servers into an empty build root and fills the cache; the servers are stopped; B, another
 * empty build root, builds from the cache alone. Both ISOs must have the same sha256.
 */
async function farm(demo: Demo, work: string, signal: AbortSignal, say: (line: string) => void): Promise<void> {
  const dir = join(work, 'farm');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'cache'), { recursive: true });
  const project = join(dir, 'project');
  cpSync(demo.project, project, { recursive: true });
  await build(project, signal, { BUILD_ROOT: join(dir, 'lock') }, 'rpm_lock');
  const cache = await startDockerRegistry(join(dir, 'cache'));
  try {
    const runner = async (name: string) => {
      const buildRoot = join(dir, name);
      const started = Date.now();
      const env = { BUILD_ROOT: buildRoot, CACHE_REGISTRY: `${cache.host}/demo-cache` };
      const report = await build(project, signal, env);
      const seconds = (Date.now() - started) / 1000;
      const warnings = (report as JsonRun & { warnings?: string[] }).warnings ?? [];
      if (warnings.length > 0) throw new Error(`runner ${name}: ${warnings.join('; ')}`);
      const fromCache = report.tasks.filter((task) => (task as { cached?: boolean }).cached).length;
      const sha256 = readFileSync(join(buildRoot, 'SHA256SUM'), 'utf8').split(/\s/)[0]!;
      return { seconds, fromCache, ran: report.tasks.filter((task) => task.executed).length, sha256 };
    };
    const a = await runner('a');
    say(`runner A: ${a.seconds.toFixed(1)} s, ${a.ran} tasks run, the cache filled; the input servers stop`);
    // Ports no longer answer: runner B can only take what the cache holds.
    await demo.stop();
    const b = await runner('b');
    say(`runner B: ${b.seconds.toFixed(1)} s, ${b.fromCache} results from the cache, ${b.ran} tasks run, no server`);
    if (a.sha256 !== b.sha256) throw new Error(`the two runners' ISOs differ: ${a.sha256} and ${b.sha256}`);
    process.stdout.write(`\nfarm     the same ISO on both runners, sha256 ${a.sha256}\n`);
  } finally {
    await cache.stop();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'small' },
      farm: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !SIZES[values.size!]) {
    process.stderr.write(`usage: npm run demo [-- --size ${Object.keys(SIZES).join('|')}] [--farm]\n`);
    return values.help ? 0 : 2;
  }
  const controller = new AbortController();
  const interrupted = () => controller.abort();
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const work = join(root, '_build', 'demo');
  const say = (line: string) => process.stdout.write(`demo: ${line}\n`);
  const demo = await prepareDemo(work, values.size!, say);
  try {
    const { inputs } = demo;
    say(
      `${inputs.images} images and ${inputs.packages} packages served on 127.0.0.1 (registry :${inputs.ports.registry}, nginx :${inputs.ports.nginx}); project ${demo.project}`,
    );
    if (values.farm) {
      await farm(demo, work, controller.signal, say);
      return 0;
    }
    const started = Date.now();
    const first = await build(demo.project, controller.signal);
    const wall = (Date.now() - started) / 1000;
    const iso = join(demo.buildRoot, 'metalk8s.iso');
    const verified = await run(join(root, 'toolkit.ts'), ['verify', iso], controller.signal);
    if (verified.code !== 0) throw new Error(`./toolkit.ts verify ${iso} failed (exit ${verified.code})`);
    const again = await build(demo.project, controller.signal);
    if (!again.proven)
      throw new Error(
        `the second build was not a proven no-op: ${again.tasks
          .filter((task) => task.executed)
          .map((task) => task.name)
          .join(', ')} ran`,
      );
    const sha256 = readFileSync(join(demo.buildRoot, 'SHA256SUM'), 'utf8').split(/\s/)[0];
    const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
    process.stdout.write(
      [
        '',
        `ISO      ${iso}`,
        `         ${mib(statSync(iso).size)}, sha256 ${sha256}`,
        `inputs   ${inputs.images} images (${mib(inputs.pulledBytes)} as pulled), ${inputs.packages} packages, the product source at ${inputs.commit.slice(0, 12)}`,
        `build    ${wall.toFixed(1)} s, ${first.proven ? 'a proven no-op: nothing had changed since the last demo' : `${first.counts.success} tasks run`}`,
        ...(phases(first).length > 0 ? [`phases   ${phases(first).join(', ')}`] : []),
        `verify   ${verified.stdout.trim().split('\n').join('\n         ')}`,
        `again    a proven no-op in ${again.elapsed.toFixed(2)} s`,
        '',
      ].join('\n'),
    );
    return 0;
  } finally {
    await demo.stop();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const aborted = (error as { name?: string }).name === 'AbortError';
    process.stderr.write(`demo: ${aborted ? 'interrupted; servers stopped' : (error as Error).message}\n`);
    process.exitCode = aborted ? 130 : 1;
  },
);
