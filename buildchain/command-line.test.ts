import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../test/helpers.ts';

const toolkit = (...args: string[]) => {
  const result = spawnSync(join(PROJECT_ROOT, 'toolkit.ts'), args, { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
};

describe('./toolkit.ts usage', () => {
  it('lists the commands by group, summaries in one column', () => {
    const { code, stdout } = toolkit('--help');
    expect(code).toBe(0);
    const groups = stdout.split('\n').filter((line) => /^[a-z]+:$/.test(line));
    expect(groups).toEqual(['iso:', 'image:', 'registry:', 'solution:', 'release:', 'offline:']);
    // Every summary starts in the same column, on the command's line or the next.
    // A command line too long for the column has no summary of its own: the next line holds it.
    const columns = stdout
      .split('\n')
      .filter((line) => line.startsWith('  '))
      .flatMap((line) => {
        const gap = /\S(\s{3,})\S/.exec(line);
        if (gap) return [gap.index + 1 + gap[1]!.length];
        const indent = /^ +/.exec(line)![0].length;
        return indent > 2 ? [indent] : [];
      });
    expect(columns.length).toBeGreaterThanOrEqual(11); // one per command at least
    expect(new Set(columns)).toEqual(new Set([44]));
    expect(stdout).toMatch(/^release:\n {2}verify FILE .*\n {44}check an ISO against SHA256SUM/m);
  });

  it("lists a group's commands for its name alone, as bad usage (exit 2); with --help, exit 0", () => {
    const bare = toolkit('iso');
    expect(bare.code).toBe(2);
    expect(bare.stdout).toMatch(
      /^Usage: \.\/toolkit\.ts iso COMMAND \[OPTIONS\]\n\n {2}iso ls FILE \[--json\] +list an ISO/,
    );
    expect(
      bare.stdout
        .split('\n')
        .filter((line) => line.startsWith('  '))
        .map((line) => line.trim().split(' ').slice(0, 2).join(' ')),
    ).toEqual(['iso ls', 'iso extract', 'iso create']);
    expect(toolkit('image', '--help').code).toBe(0);
    const unknown = toolkit('iso', 'burn');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      "toolkit: unknown command 'iso burn' (iso commands: iso ls, iso extract, iso create)\n(see ./toolkit.ts --help)\n",
    );
    const command = toolkit('iso', 'create', '--help');
    expect(command).toMatchObject({
      code: 0,
      stdout:
        "Usage: ./toolkit.ts iso create DIR -o FILE [--volid ID]\n\n  write DIR as an ISO 9660 + Rock Ridge + Joliet image dated SOURCE_DATE_EPOCH, else DIR's newest mtime\n",
    });
  });
});
