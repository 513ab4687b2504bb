// `npm run demo [-- --size small|metalk8s]`: the whole chain on this machine with no network. It
// generates inputs served on 127.0.0.1 (demo/inputs.ts) into _build/demo/, builds the ISO with the
// real `./build.ts iso` on a project of its own, checks it with `./toolkit.ts verify`, builds again
// (a proven no-op), prints a summary and stops its servers, on Ctrl-C and on failure too.
// `--farm`: two runners sharing a docker-registry as their cache (CACHE_REGISTRY) instead.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { phaseSpans } from '../buildchain/engine/report.ts';
import { projectRoot } from '../buildchain/paths.ts';
import { build, PHASES, run, type JsonRun } from './build.ts';
import { farmRound } from './farm.ts';
import { prepareDemo, SIZES } from './inputs.ts';

const root = projectRoot();

function phases(report: JsonRun): string[] {
  return Object.entries(phaseSpans(report.tasks, PHASES))
    .filter(([, seconds]) => seconds > 0)
    .map(([phase, seconds]) => `${phase} ${seconds.toFixed(1)} s`);
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
      const { a } = await farmRound(demo, join(work, 'farm'), controller.signal, say);
      process.stdout.write(`\nfarm     the same ISO on both runners, sha256 ${a.sha256}\n`);
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
