import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, runCli, tempDir } from '../../test/helpers.ts';

/** A task file (TypeScript, compiled by the launcher) with 20 slow one-shot tasks and a few others. */
function writeTaskFile(dir: string): string {
  const file = join(dir, 'tasks.ts');
  writeFileSync(
    file,
    `
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from ${JSON.stringify(join(PROJECT_ROOT, 'buildchain/fs/atomic.ts'))};
import type { TaskDefinition } from ${JSON.stringify(join(PROJECT_ROOT, 'buildchain/engine/task.ts'))};

export const DEFAULT_TASKS = ['all'];
export function tasks(): TaskDefinition[] {
  const steps: TaskDefinition[] = Array.from({ length: 20 }, (_, i) => {
    const name = 'step:' + String(i).padStart(2, '0');
    return {
      name, doc: 'Slow step.', targets: ['out/' + name.slice(5)], uptodate: [true], clean: true,
      actions: [async () => { await sleep(60); await writeFileAtomic('out/' + name.slice(5), name); }],
    };
  });
  return [
    { name: 'all', doc: 'Every step.', task_dep: ['step:*'] },
    ...steps,
    { name: 'fails', doc: 'Always fails.', actions: [{ shell: 'echo broken >&2; exit 7' }] },
    { name: 'after_fail', task_dep: ['fails'], actions: [['true']] },
    { name: '_private', doc: 'Hidden.', actions: [['true']] },
  ];
}
`,
  );
  return file;
}

describe('./build.ts with a task file', () => {
  it('creates delayed subtasks for info and list --all without running anything', async () => {
    const dir = tempDir();
    const file = join(dir, 'tasks.ts');
    // pull: subtasks from a list file, like _image_pull; report: subtasks from what gen leaves.
    writeFileSync(join(dir, 'images.txt'), 'etcd\ncoredns\n');
    writeFileSync(
      file,
      `
import { existsSync, readFileSync } from 'node:fs';
import type { TaskDefinition } from ${JSON.stringify(join(PROJECT_ROOT, 'buildchain/engine/task.ts'))};
export const DEFAULT_TASKS = ['pull'];
export function tasks(): TaskDefinition[] {
  return [
    { name: 'prepare', actions: [['touch', 'prepared']], targets: ['prepared'] },
    { basename: '_pull', doc: 'Pull each image.', after: [], create: () => readFileSync('images.txt', 'utf8').trim().split('\\n').map((image) => ({
      name: '_pull:' + image, task_dep: ['prepare'], file_dep: ['images.txt'], targets: ['out/' + image], actions: [['touch', 'out/' + image]],
    })) },
    { basename: 'report', doc: 'One per generated file.', after: ['gen'], create: () => (existsSync('gen.txt') ? [{ name: 'report:gen', file_dep: ['gen.txt'], actions: [['true']] }] : []) },
    { name: 'gen', actions: [['touch', 'gen.txt']], targets: ['gen.txt'] },
  ];
}
`,
    );
    const info = await runCli(['info', '_pull:etcd', '-f', file]);
    expect(info).toMatchObject({ code: 0 });
    expect(info.stdout).toBe(
      '_pull:etcd\nstatus: will run, because:\n  - it never succeeded\n  - target missing: out/etcd\nfile_dep:\n  - images.txt\ntask_dep:\n  - prepare\ntargets:\n  - out/etcd\n',
    );
    expect(existsSync(join(dir, 'prepared')) || existsSync(join(dir, 'out'))).toBe(false);
    const all = await runCli(['list', '--all', '-p', '-q', '-f', file]);
    expect(all.stdout).toBe('_pull\n_pull:coredns\n_pull:etcd\ngen\nprepare\nreport\n');
    const later = await runCli(['info', 'report:gen', '-f', file]);
    expect(later).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        "no task 'report:gen' (report makes its subtasks from what gen leaves: run it first to see them all)",
      ),
    });
  });

  it('lists, explains and runs tasks; prints one JSON document with --reporter json', async () => {
    const dir = tempDir();
    const file = writeTaskFile(dir);
    const list = await runCli(['list', '-f', file]);
    expect(list.code).toBe(0);
    expect(list.stdout).toBe('after_fail\nall         Every step.\nfails       Always fails.\nstep\n');

    const all = await runCli(['list', '--all', '-p', '-q', '-f', file]);
    expect(all.stdout.split('\n')).toContain('_private');
    expect(all.stdout.split('\n')).toContain('step:19');

    const run = await runCli(['-f', file, '-n', '4', '--reporter', 'json', 'all']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      counts: Record<string, number>;
      tasks: { name: string; result: string }[];
    };
    expect(report.ok).toBe(true);
    expect(report.counts.success).toBe(21);
    expect(readFileSync(join(dir, 'out/07'), 'utf8')).toBe('step:07');

    const again = await runCli(['-f', file, 'all']);
    expect(again.stdout.split('\n').filter((line) => line.startsWith('-- ')).length).toBe(20);

    const info = await runCli(['info', 'step:03', '-f', file]);
    expect(info.stdout).toContain('status: up to date');
    expect(info.stdout).toContain('targets:\n  - out/03');
  });

  it("says a task file's BuildError on one line, as its own", async () => {
    const dir = tempDir();
    const file = join(dir, 'tasks.ts');
    // The task file is bundled on its own: its BuildError is a copy of the class, not ./build.ts's.
    writeFileSync(
      file,
      `import { BuildError } from ${JSON.stringify(join(PROJECT_ROOT, 'buildchain/errors.ts'))};
export function project(): never {
  throw new BuildError('settings.yaml:3: unknown key "colour"');
}
`,
    );
    const result = await runCli(['list', '-f', file]);
    expect([result.code, result.stderr]).toEqual([1, './build.ts: settings.yaml:3: unknown key "colour"\n']);
  });

  it('exits 1 with a failure summary, and 2 on bad usage with suggestions', async () => {
    const dir = tempDir();
    const file = writeTaskFile(dir);
    const failed = await runCli(['-f', file, 'after_fail']);
    expect(failed.code).toBe(1);
    // The cause once, in the summary; the live line only names the task.
    expect(failed.stderr).toContain('FAILED fails (the cause is below)');
    expect(failed.stderr.split('/bin/sh -c')).toHaveLength(2);
    expect(failed.stderr).toContain('fails <stderr>:\nbroken');
    expect(failed.stderr).toMatch(/build failed: 1 failed \(fails\), 1 not run because a dependency failed/);

    const json = await runCli(['-f', file, '--reporter', 'json', 'after_fail']);
    const doc = JSON.parse(json.stdout) as { tasks: { name: string; result: string; err: string }[] };
    expect(doc.tasks.find((t) => t.name === 'fails')).toMatchObject({ result: 'fail', err: 'broken\n' });
    expect(doc.tasks.find((t) => t.name === 'after_fail')!.result).toBe('skipped');

    const unknown = await runCli(['-f', file, 'al']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no task matches 'al' (did you mean 'all'");
    const badOption = await runCli(['-f', file, '--frobnicate']);
    expect(badOption.code).toBe(2);
    const badWorkers = await runCli(['-f', file, '-n', 'zero']);
    expect(badWorkers.code).toBe(2);
  });

  it('recovers after kill -9: finished tasks stay done, no partial target, the stale lock is taken over', async () => {
    const dir = tempDir();
    const file = writeTaskFile(dir);
    const child = spawn(join(PROJECT_ROOT, 'build.ts'), ['-f', file, '-n', '1', 'all'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('.. step:10')) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((resolve) => child.on('close', resolve));
    expect(existsSync(join(dir, '_build/.engine/lock'))).toBe(true);

    const rerun = await runCli(['-f', file, '-n', '1', '--reporter', 'json', 'all']);
    expect(rerun.code).toBe(0);
    const results = Object.fromEntries(
      (JSON.parse(rerun.stdout) as { tasks: { name: string; result: string }[] }).tasks.map((t) => [t.name, t.result]),
    );
    for (let i = 0; i < 10; i++) expect(results[`step:0${i}`]).toBe('up-to-date');
    for (let i = 11; i < 20; i++) expect(results[`step:${i}`]).toBe('success');
    for (let i = 0; i < 20; i++) {
      const id = String(i).padStart(2, '0');
      expect(readFileSync(join(dir, 'out', id), 'utf8')).toBe(`step:${id}`);
    }
  });

  it('cleans with a dry run first, then for real', async () => {
    const dir = tempDir();
    const file = writeTaskFile(dir);
    await runCli(['-f', file, 'step:01']);
    const dry = await runCli(['clean', '-n', '-f', file, 'step:01']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe('step:01: would remove out/01\n');
    expect(existsSync(join(dir, 'out/01'))).toBe(true);
    const real = await runCli(['clean', '-f', file, 'step:01']);
    expect(real.stdout).toBe('step:01: removing out/01\n');
    expect(existsSync(join(dir, 'out/01'))).toBe(false);
    expect((await runCli(['-f', file, 'step:01'])).stdout).toBe('.. step:01\n');
  });
});

describe('./build.ts on a terminal, with -v, and on Ctrl-C', () => {
  function slowTaskFile(dir: string): string {
    const file = join(dir, 'slow.ts');
    writeFileSync(
      file,
      `
export function tasks() {
  return [
    { name: 'chatty', uptodate: [false], actions: [['sh', '-c', 'echo said-on-stdout; echo said-on-stderr >&2']] },
    { name: 'slow', targets: ['slow.out'], uptodate: [true],
      actions: [{ shell: 'sleep 3 && echo done > slow.out.tmp && mv slow.out.tmp slow.out' }] },
    { name: 'after_slow', task_dep: ['slow'], actions: [['true']] },
  ];
}
`,
    );
    return file;
  }

  it('shows action output as it comes with -v, and keeps it otherwise', async () => {
    const file = slowTaskFile(tempDir());
    const quiet = await runCli(['-f', file, 'chatty']);
    expect(quiet.stdout).toBe('.. chatty\n');
    const verbose = await runCli(['-f', file, '-v', 'chatty']);
    expect(verbose.stdout).toContain('said-on-stdout');
    expect(verbose.stderr).toContain('said-on-stderr');
    // doit's levels: 1 shows stderr only, 0 nothing; -v before the verb means the same.
    const one = await runCli(['-f', file, 'run', '-v', '1', 'chatty']);
    expect(one.stdout).not.toContain('said-on-stdout');
    expect(one.stderr).toContain('said-on-stderr');
    const before = await runCli(['-v', '2', '-f', file, 'run', 'chatty']);
    expect(before.stdout).toContain('said-on-stdout');
    const bad = await runCli(['-f', file, '-v', '3', 'chatty']);
    expect(bad.code).toBe(2);
  });

  it('draws a live progress line on a terminal', async () => {
    const file = slowTaskFile(tempDir());
    // script(1) gives the build a pseudo-terminal, sized as an interactive terminal would be.
    const command = `stty rows 24 cols 100; ${join(PROJECT_ROOT, 'build.ts')} -f ${file} after_slow`;
    const result = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\[0\/2\] slow/);
    expect(result.stdout).toContain('.. slow');
  });

  it('stops on SIGINT with exit code 130, leaving no target, and the next run does the work', async () => {
    const dir = tempDir();
    const file = slowTaskFile(dir);
    const child = spawn(join(PROJECT_ROOT, 'build.ts'), ['-f', file, 'after_slow'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('.. slow') && resolve()),
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    expect(existsSync(join(dir, 'slow.out'))).toBe(false);
    const rerun = await runCli(['-f', file, '--reporter', 'json', 'after_slow']);
    const results = (JSON.parse(rerun.stdout) as { tasks: { name: string; result: string }[] }).tasks;
    expect(results.map((t) => [t.name, t.result])).toEqual([
      ['slow', 'success'],
      ['after_slow', 'success'],
    ]);
  });
});

describe('./build.ts configuration and help', () => {
  it('names the .env file and line of a malformed setting of a project module', async () => {
    const dir = tempDir();
    const file = join(dir, 'tasks.ts');
    writeFileSync(file, `export { project } from ${JSON.stringify(join(PROJECT_ROOT, 'tasks/index.ts'))};\n`);
    writeFileSync(join(dir, '.env'), '# settings\nPROJECT_NAME=Test\nthis is not a setting\n');
    const result = await runCli(['list', '-f', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${join(dir, '.env')}:3: malformed line, expected KEY=VALUE`);
  });

  it('says which parts are missing when the default task is not defined', async () => {
    const dir = tempDir();
    const file = join(dir, 'partial.ts');
    writeFileSync(
      file,
      "export const DEFAULT_TASKS = ['iso'];\nexport const MISSING_DEFAULT_HINT = 'the ISO writer is not written yet';\nexport function tasks() { return [{ name: 'lint' }]; }\n",
    );
    const result = await runCli(['-f', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the default task 'iso' is not defined yet: the ISO writer is not written yet/);
  });

  it('prints completion scripts that bash and zsh syntax-check', async () => {
    const bash = await runCli(['tabcompletion', '--shell', 'bash']);
    expect(bash.code).toBe(0);
    expect(spawnSync('bash', ['-n'], { input: bash.stdout }).status).toBe(0);
    expect(bash.stdout).toContain('complete -F');
    const zsh = await runCli(['tabcompletion', '--shell', 'zsh']);
    expect(zsh.stdout).toContain('#compdef build.ts');
    expect((await runCli(['tabcompletion', '--shell', 'fish'])).code).toBe(2);
  });

  it('stops quietly when the reader of its output goes away', () => {
    const dir = tempDir();
    const file = join(dir, 'many.ts');
    // Far more output than a pipe holds: the writer meets EPIPE once head has gone.
    writeFileSync(
      file,
      "export function tasks() { return Array.from({ length: 20000 }, (_, i) => ({ name: 'task' + i, doc: 'A task with a doc line long enough to fill the pipe quickly.' })); }\n",
    );
    const piped = spawnSync(
      'bash',
      ['-c', `set -o pipefail; ${join(PROJECT_ROOT, 'build.ts')} list -f ${file} | head -n 1`],
      { encoding: 'utf8' },
    );
    expect(piped.stdout).toMatch(/^task\d+ +A task/);
    expect(piped.stderr).toBe('');
    expect(piped.status).toBe(0);
  });

  it('documents every verb in --help', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const verb of ['list', 'info', 'clean', 'ignore', 'forget', 'tabcompletion', '--reporter', '--lock-wait'])
      expect(help.stdout).toContain(verb);
  });
});

describe('doit verbs: list --status, why, state, help TASK', () => {
  function fileTasks(dir: string): string {
    const file = join(dir, 'tasks.ts');
    writeFileSync(join(dir, 'in.txt'), 'one\n');
    writeFileSync(
      file,
      `
import type { TaskDefinition } from ${JSON.stringify(join(PROJECT_ROOT, 'buildchain/engine/task.ts'))};
export function tasks(): TaskDefinition[] {
  return [
    { name: 'copy', doc: 'Copies in.txt.', file_dep: ['in.txt'], targets: ['out.txt'], actions: [['cp', 'in.txt', 'out.txt']] },
    { name: 'other', doc: 'Never run.', file_dep: ['in.txt'], actions: [['true']] },
    { name: 'later', doc: 'Checks what copy makes.', task_dep: ['copy'],
      uptodate: [() => { throw new Error('made.txt: cannot read (ENOENT)'); }], actions: [['true']] },
  ];
}
`,
    );
    return file;
  }

  it('says where each task stands and why it would run, before and after a change', async () => {
    const dir = tempDir();
    const file = fileTasks(dir);
    expect((await runCli(['-f', file, 'copy'])).code).toBe(0);
    const listed = await runCli(['-f', file, 'list', '--status']);
    expect(listed.stdout).toMatch(/^up-to-date\s+copy\s+Copies in.txt.$/m);
    expect(listed.stdout).toMatch(/^run\s+other\s+Never run.$/m);
    // An uptodate check that cannot answer yet does not stop the listing.
    expect(listed.stdout).toMatch(/^run\s+later\s+Checks what copy makes.$/m);
    expect((await runCli(['-f', file, 'why', 'later'])).stdout).toContain('made.txt: cannot read (ENOENT)');
    expect((await runCli(['-f', file, 'why', 'copy'])).stdout).toMatch(/^up to date/);

    writeFileSync(join(dir, 'in.txt'), 'two\n');
    const why = await runCli(['-f', file, 'why', 'copy']);
    expect(why.code).toBe(0);
    expect(why.stdout).toContain('in.txt');
    // Options before the verb, and --reporter json for list as for a run.
    const json = JSON.parse((await runCli(['--reporter', 'json', '-f', file, 'list', '--status'])).stdout) as {
      name: string;
      status: string;
    }[];
    expect(json.find((row) => row.name === 'copy')?.status).toBe('run');

    await runCli(['-f', file, 'ignore', 'other']);
    expect((await runCli(['-f', file, 'list', '-s'])).stdout).toMatch(/^ignored\s+other/m);
  });

  it('dumps a task state as JSON (state, dumpdb) and shows a task with help TASK', async () => {
    const dir = tempDir();
    const file = fileTasks(dir);
    const never = JSON.parse((await runCli(['-f', file, 'state', 'copy'])).stdout) as { lastSuccess: unknown };
    expect(never.lastSuccess).toBeNull();
    await runCli(['-f', file, 'copy']);
    const dumped = JSON.parse((await runCli(['-f', file, 'dumpdb', 'copy'])).stdout) as {
      lastSuccess: { fileDepDigests: string[] };
      files: Record<string, { size: number } | null>;
    };
    expect(dumped.lastSuccess.fileDepDigests).toHaveLength(1);
    expect(dumped.files['in.txt']?.size).toBe(4);
    const help = await runCli(['-f', file, 'help', 'copy']);
    expect(help.stdout).toContain('Copies in.txt.');
    expect(help.stdout).toContain('status: up to date');
    expect((await runCli(['-f', file, 'why'])).code).toBe(2);
    expect((await runCli(['-f', file, 'state', 'nosuch'])).code).not.toBe(0);
  });
});

describe('one failure, one block', () => {
  it('says each cause once, items named by an earlier failure left out, then the .env lines to paste', async () => {
    const dir = tempDir();
    const file = join(dir, 'tasks.ts');
    writeFileSync(
      file,
      `
import { BuildError } from ${JSON.stringify(join(PROJECT_ROOT, 'buildchain/errors.ts'))};
import type { TaskDefinition } from ${JSON.stringify(join(PROJECT_ROOT, 'buildchain/engine/task.ts'))};
const down = (names: string[]) => () => {
  throw new BuildError('cannot reach ' + names.length + ' repositories:\\n' + names.map((n) => '  ' + n + ': ECONNREFUSED').join('\\n'),
    names.map((n) => 'YUM_MIRROR_' + n.toUpperCase() + '=<mirror base URL>'));
};
export function tasks(): TaskDefinition[] {
  return [
    { name: 'a', actions: [down(['base', 'epel'])] },
    { name: 'b', actions: [down(['base', 'epel', 'saltstack'])] },
  ];
}
`,
    );
    const result = await runCli(['-f', file, '-n', '1', 'a', 'b']);
    expect(result.code).toBe(1);
    expect(result.stderr.match(/ {2}base: ECONNREFUSED/g)).toHaveLength(1);
    expect(result.stderr).toContain(
      'b: cannot reach 3 repositories:\n  saltstack: ECONNREFUSED\n  (and 2 named above)',
    );
    expect(result.stderr).toMatch(
      /add to \.env \(or set in the environment\), then run again:\nYUM_MIRROR_BASE=<mirror base URL>\nYUM_MIRROR_EPEL=<mirror base URL>\nYUM_MIRROR_SALTSTACK=<mirror base URL>\n$/,
    );
    const json = JSON.parse((await runCli(['-f', file, '--reporter', 'json', 'a'])).stdout) as {
      tasks: { name: string; settings: string[] }[];
    };
    expect(json.tasks[0]?.settings).toEqual(['YUM_MIRROR_BASE=<mirror base URL>', 'YUM_MIRROR_EPEL=<mirror base URL>']);
  });
});
