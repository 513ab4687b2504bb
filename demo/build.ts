// `./build.ts TASK --reporter json` on a demo project, for the demo and the farm benchmark: its
// stderr shown as it comes, its report parsed, a failure named with the tasks that failed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { JsonTaskReport } from '../buildchain/engine/report.ts';
import { projectRoot } from '../buildchain/paths.ts';

const root = projectRoot();

export interface JsonRun {
  ok: boolean;
  proven: boolean;
  elapsed: number;
  counts: Record<string, number>;
  warnings: string[];
  tasks: (JsonTaskReport & { result: string; error: string | null; cached: boolean })[];
}

/** The phases of a build, each the span of its tasks (from the JSON reporter). */
export const PHASES = {
  'product source': /^_product_source$/,
  images: /^_image_(pull|build):/,
  packages: /^(_resolve_rpm_packages|_download_rpm_packages|_build_rpm_packages|_build_rpm_repositories)/,
  'salt tree': /^salt_tree:/,
  documentation: /^_doc_/,
  'ISO tree and SBOM': /^_iso_(add_tree|sbom):/,
  'ISO write': /^_iso_build:image$/,
  'checksums, provenance': /^_iso_(digest|provenance)/,
};

/** Runs a command of the project, its stderr shown as it comes; answers its stdout. */
export function run(
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
export async function build(
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
