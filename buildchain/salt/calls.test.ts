import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, tempDir } from '../../test/helpers.ts';
import { describeSaltCall, missingSaltCalls, shellSaltCalls } from './calls.ts';

function tree(files: Record<string, string>): string {
  const root = tempDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('the Salt calls of a script', () => {
  it('reads each salt-call, salt-run and salt-ssh line: its function, and the states it applies', () => {
    const script = [
      '#!/bin/bash',
      '# salt-call state.sls metalk8s.in.a.comment',
      '"$SALT_CALL" --local --retcode-passthrough state.sls \\',
      '    \'["metalk8s.a", "metalk8s.b.c"]\' saltenv=base',
      'salt_master salt-run --state-output=mixed state.orchestrate "metalk8s.orchestrate.$1.precheck" saltenv="$SALTENV"',
      '${SALT_CALL} saltutil.sync_all refresh=True',
      'salt-run state.orchestrate_single metalk8s_kubernetes.namespace_annotation_present kube-system',
      'echo "state.sls metalk8s.not.called"',
      'salt_master salt-ssh --roster kubernetes -L "$others" --state-output=mixed \\',
      '    state.sls \'["metalk8s.roles.minion"]\' saltenv="$SALTENV"',
    ].join('\n');
    expect(shellSaltCalls(script, 'x.sh').map(describeSaltCall)).toEqual([
      'x.sh:3: execution function state.sls',
      'x.sh:3: state metalk8s.a',
      'x.sh:3: state metalk8s.b.c',
      'x.sh:5: runner function state.orchestrate',
      'x.sh:5: state metalk8s.orchestrate.$1.precheck',
      'x.sh:6: execution function saltutil.sync_all',
      'x.sh:7: runner function state.orchestrate_single',
      'x.sh:7: state function metalk8s_kubernetes.namespace_annotation_present',
      'x.sh:9: execution function state.sls',
      'x.sh:9: state metalk8s.roles.minion',
    ]);
  });

  it('finds states as files or folders (templates too), a variable part as any name, and custom functions by module and def', () => {
    const root = tree({
      'metalk8s/a.sls': '',
      'metalk8s/b/c/init.sls.in': '',
      'metalk8s/orchestrate/upgrade/precheck.sls': '',
      '_states/kubernetes.py':
        "__virtualname__ = 'metalk8s_kubernetes'\n\ndef namespace_annotation_present(name):\n    pass\n",
      '_runners/metalk8s_saltutil.py': 'def sync_auth(saltenv):\n    pass\n',
    });
    const calls = [
      { kind: 'state', name: 'metalk8s.a' },
      { kind: 'state', name: 'metalk8s.b.c' },
      { kind: 'state', name: 'metalk8s.orchestrate.$1.precheck' },
      { kind: 'state-function', name: 'metalk8s_kubernetes.namespace_annotation_present' },
      { kind: 'runner', name: 'metalk8s_saltutil.sync_auth' },
      { kind: 'module', name: 'saltutil.sync_all' },
      { kind: 'runner', name: 'state.orchestrate' },
      { kind: 'state', name: 'metalk8s.b' },
      { kind: 'state', name: 'metalk8s.orchestrate.${X}.deploy' },
      { kind: 'runner', name: 'metalk8s_saltutil.sync_roster' },
      { kind: 'module', name: 'metalk8s.archive_info_from_iso' },
    ] as const;
    expect(
      missingSaltCalls(
        root,
        calls.map((call) => ({ ...call, where: 'x.sh:1' })),
      ).map((call) => call.name),
    ).toEqual([
      'metalk8s.b',
      'metalk8s.orchestrate.${X}.deploy',
      'metalk8s_saltutil.sync_roster',
      'metalk8s.archive_info_from_iso',
    ]);
  });

  it("reads every call of the project's own node scripts", () => {
    const scripts = join(PROJECT_ROOT, 'scripts');
    const calls = readdirSync(scripts).flatMap((file) =>
      shellSaltCalls(readFileSync(join(scripts, file), 'utf8'), file),
    );
    const states = calls.filter((call) => call.kind === 'state').map((call) => call.name);
    // What upstream's scripts apply, each found on its line.
    expect(states).toEqual(
      expect.arrayContaining([
        'metalk8s.salt.minion.local',
        'metalk8s.roles.bootstrap',
        'metalk8s.roles.minion',
        'metalk8s.orchestrate.bootstrap',
        'metalk8s.orchestrate.bootstrap.accept-minion',
        'metalk8s.orchestrate.$1.precheck',
        'metalk8s.orchestrate.$1',
        'metalk8s.orchestrate.deploy_node',
        'metalk8s.kubernetes.mark-control-plane.deployed',
        'metalk8s.salt.master.certs.etcd-client',
        'metalk8s.container-engine',
      ]),
    );
    expect(calls.find((call) => call.name === 'metalk8s_saltutil.sync_auth')).toMatchObject({
      kind: 'runner',
      where: expect.stringMatching(/^version-change\.sh:\d+$/),
    });
  });
});
