// One self-contained JavaScript file from a TypeScript entry point, its npm packages included:
// what ships to machines that have Node but no node_modules (the node-side agent in the ISO).
// esbuild's output depends only on its inputs, so the file is reproducible byte for byte.
import { build } from 'esbuild';
import { BuildError } from '../errors.ts';
import { writeFileAtomic } from '../fs/atomic.ts';

/** `target`: the Node.js the file runs on (`node16`): esbuild lowers newer syntax for it. */
/** `define`: expressions replaced by values at build time (`process.env.X` -> `"2.4.1"`). */
export async function bundleStandalone(
  entry: string,
  output: string,
  options: { root: string; target: string; define?: Record<string, string> },
): Promise<{ bytes: number }> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: options.root,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: options.target,
    define: options.define ?? {},
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    banner: { js: '#!/usr/bin/env node' },
  }).catch((error: { errors?: { text: string; location?: { file: string; line: number } | null }[] }) => {
    const messages = (error.errors ?? []).map(
      (e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`,
    );
    throw new BuildError(`${entry}: cannot bundle:\n${messages.join('\n') || String(error)}`);
  });
  const contents = result.outputFiles[0]!.contents;
  await writeFileAtomic(output, contents, 0o755);
  return { bytes: contents.length };
}
