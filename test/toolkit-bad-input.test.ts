// Every toolkit command that takes a file or directory, given the wrong kind of path: a
// directory, an empty file, 9 KiB of random bytes, a missing path. Each must exit 1 or 2 with
// one message naming the path, never a stack trace.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitConcurrency } from '../buildchain/concurrency.ts';
import { runCli, tempDir, type CliResult } from './helpers.ts';

function toolkit(args: string[]): Promise<CliResult> {
  return runCli(args, { entry: 'toolkit.ts' });
}

describe('the toolkit on bad input', () => {
  it('exits 1 or 2 naming the path, without a stack trace, for every command taking a path', async () => {
    const root = tempDir('toolkit-bad-input-');
    const paths = {
      directory: join(root, 'a-directory'),
      empty: join(root, 'empty-file'),
      random: join(root, 'random-9k'),
      missing: join(root, 'missing-path'),
    };
    mkdirSync(paths.directory);
    writeFileSync(paths.empty, '');
    writeFileSync(paths.random, randomBytes(9 * 1024));
    const out = (name: string) => join(tempDir('toolkit-bad-input-out-'), name);
    // Commands whose argument is a directory: given one, they may succeed.
    const takesDirectory = new Set(['iso create', 'registry-config']);
    const commands: [string, (path: string) => string[]][] = [
      ['iso ls', (path) => ['iso', 'ls', path]],
      ['iso extract', (path) => ['iso', 'extract', path, out('dest')]],
      ['iso create', (path) => ['iso', 'create', path, '-o', out('x.iso')]],
      ['verify', (path) => ['verify', path]],
      ['solution validate', (path) => ['solution', 'validate', path]],
      ['solution build', (path) => ['solution', 'build', path, '-o', out('s.iso')]],
      ['offline-import', (path) => ['offline-import', path]],
      // Nothing listens on port 1: the file is refused before any request.
      ['publish', (path) => ['publish', path, '127.0.0.1:1/releases/metalk8s:1']],
      ['registry-config', (path) => ['registry-config', path]],
      ['image build', (path) => ['image', 'build', path, out('layout')]],
    ];
    const cases = commands.flatMap(([name, argv]) =>
      Object.entries(paths)
        .filter(([kind]) => !(kind === 'directory' && takesDirectory.has(name)))
        .map(([kind, path]) => ({ name, kind, path, argv: argv(path) })),
    );
    const limit = limitConcurrency(3); // the machine is small
    const runs = await Promise.all(cases.map((c) => limit(() => toolkit(c.argv))));
    const failures = cases.flatMap((c, index) => {
      const run = runs[index]!;
      const wrong = [
        ...(run.code === 1 || run.code === 2 ? [] : [`exit ${run.code}`]),
        ...(/^ {4}at /m.test(run.stderr) ? ['a stack trace'] : []),
        ...(run.stderr.includes(c.path) ? [] : ['no path named']),
      ];
      return wrong.length > 0 ? [`${c.name} on ${c.kind}: ${wrong.join(', ')}: ${run.stderr.trim()}`] : [];
    });
    expect(failures).toEqual([]);
  }, 180_000);

  it('iso create refuses an output in a missing directory, creating nothing', async () => {
    const root = tempDir('toolkit-bad-output-');
    const missing = join(root, 'not-there', 'deeper');
    const run = await toolkit(['iso', 'create', tempDir('toolkit-tree-'), '-o', join(missing, 'x.iso')]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`toolkit: ${missing}: no such directory (for -o ${join(missing, 'x.iso')})`);
    expect(existsSync(join(root, 'not-there'))).toBe(false);
  });

  it('--version prints what the version command prints', async () => {
    const [flag, command] = await Promise.all([toolkit(['--version']), toolkit(['version'])]);
    expect(flag.code).toBe(0);
    expect(command.code).toBe(0);
    expect(flag.stdout).toMatch(/ toolkit /);
    expect(flag.stdout).toBe(command.stdout);
  });

  it('exits 2 for a malformed reference or digest, as for a tag-only one', async () => {
    const dir = join(tempDir('toolkit-ref-'), 'layout');
    const runs = await Promise.all(
      ['quay.io/x/y:tag', 'quay.io/x/y@sha256:abc', 'quay.io/x/y@sha256:../../etc/passwd'].map((ref) =>
        toolkit(['image', 'pull', ref, dir]),
      ),
    );
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('(see ./toolkit.ts --help)');
    }
    expect(existsSync(dir)).toBe(false);
  });
});
