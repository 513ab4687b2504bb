import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, requireTool, runCli, runEngine, tempDir } from '../test/helpers.ts';
import { metalk8sTasks, project } from '../test/project.ts';

describe('lint', () => {
  it('fails on a bad shell script and bad YAML, naming each file, and passes clean ones', async () => {
    requireTool('shellcheck');
    requireTool('yamllint');
    const root = project({
      'scripts/good.sh': '#!/bin/bash\necho "fine"\n',
      'scripts/bad.sh': '#!/bin/bash\nrm -rf $1/*\n',
      'images/good.yaml': 'name: pause\nversion: "3.1"\n',
      'salt-tree/metalk8s/defaults.yaml': 'key: value\nkey: duplicate\n',
    });
    const report = await runEngine(root, metalk8sTasks(root), ['lint:shell', 'lint:yaml'], { workers: 2 });
    const bad = report.finished.find((r) => r.name === '_lint_shell:scripts/bad.sh')!;
    expect(bad.result).toBe('fail');
    expect(bad.error).toContain('scripts/bad.sh');
    expect(bad.out).toContain('SC2086');
    const yaml = report.finished.find((r) => r.name === '_lint_yaml:salt-tree/metalk8s/defaults.yaml')!;
    expect(yaml.result).toBe('fail');
    expect(yaml.out).toContain('salt-tree/metalk8s/defaults.yaml:2');
    expect(report.result('_lint_shell:scripts/good.sh')).toBe('success');
    expect(report.result('_lint_yaml:images/good.yaml')).toBe('success');
    expect(report.result('lint:shell')).toBe('skipped');

    // Fixing the bad file re-lints it alone: the clean one is not checked again.
    writeFileSync(join(root, 'scripts/bad.sh'), '#!/bin/bash\nrm -rf "${1:?}"/*\n');
    const second = await runEngine(root, metalk8sTasks(root), ['lint:shell']);
    expect(second.executed).toEqual(['_lint_shell:scripts/bad.sh']);
    expect(second.result('lint:shell')).toBe('success');
  });

  it(
    'fails lint:imports on a folder importing a higher layer, a family importing another, and the engine importing project code; lint:format on unformatted code',
    { timeout: 60_000 },
    async () => {
      const root = project({
        'buildchain/errors.ts': 'export class BuildError extends Error {}\n',
        'buildchain/engine/graph.ts':
          "import { lintTasks } from '../../tasks/lint.ts';\nexport const graph = lintTasks;\n",
        'tasks/config.ts': "import { BuildError } from '../buildchain/errors.ts';\nexport const config = BuildError;\n",
        'tasks/lint.ts': 'export function lintTasks() {\n  return [];\n}\n',
        'tasks/images.ts':
          "import { lintTasks } from './lint.ts';\nimport { config } from './config.ts';\nexport const images = [lintTasks, config];\n",
      });
      for (const file of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package-lock.json'])
        copyFileSync(join(PROJECT_ROOT, file), join(root, file));
      symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(root, 'node_modules'));
      const report = await runEngine(root, metalk8sTasks(root), ['lint:imports']);
      const said = report.finished.find((r) => r.name === '_lint_imports:depcruise')!;
      expect(said.result).toBe('fail');
      // The tools colour their report when the runner asks for colour (FORCE_COLOR on CI): read its text.
      const lines = stripVTControlCharacters(`${said.out}${said.err}`);
      expect(lines).toContain('error layer-buildchain-engine: buildchain/engine/graph.ts → tasks/lint.ts');
      expect(lines).toContain('error engine-knows-no-project: buildchain/engine/graph.ts → tasks/lint.ts');
      expect(lines).toContain('error task-families-apart: tasks/images.ts → tasks/lint.ts');
      expect(lines).not.toContain('tasks/images.ts → tasks/config.ts'); // config.ts is shared, not a family

      // lint:format: a file the formatter would write otherwise fails, named; formatted, it passes.
      copyFileSync(join(PROJECT_ROOT, 'biome.json'), join(root, 'biome.json'));
      writeFileSync(join(root, 'buildchain/spacing.ts'), 'export const a    = 1;\n');
      const format = await runEngine(root, metalk8sTasks(root), ['lint:format']);
      const formatSaid = format.finished.find((r) => r.name === '_lint_format:biome')!;
      expect(formatSaid.result).toBe('fail');
      expect(stripVTControlCharacters(`${formatSaid.out}${formatSaid.err}`)).toContain(
        './buildchain/spacing.ts format',
      );
      writeFileSync(join(root, 'buildchain/spacing.ts'), 'export const a = 1;\n');
      expect((await runEngine(root, metalk8sTasks(root), ['lint:format'])).result('lint:format')).toBe('success');
    },
  );

  it('fails check_for with the apt-get line when a tool is missing', async () => {
    const root = project({ 'scripts/a.sh': '#!/bin/sh\ntrue\n', '.env': 'SHELLCHECK_BIN=shellcheck-not-installed\n' });
    const report = await runEngine(root, metalk8sTasks(root), ['lint:shell']);
    const check = report.finished.find((r) => r.name === 'check_for:shellcheck')!;
    expect(check.error).toBe(
      "'shellcheck-not-installed' not found (SHELLCHECK_BIN=shellcheck-not-installed); install it with: apt-get install -y shellcheck",
    );
    expect(report.result('_lint_shell:scripts/a.sh')).toBe('skipped');
  });
});

describe('salt_tree', () => {
  it('copies the tree, renders .in templates with the version, and is incremental', async () => {
    const root = project({
      'salt-tree/top.sls.in': '{%- set version = "@@VERSION" -%}\nbase: {}\n',
      'salt-tree/metalk8s/archives/mounted.sls': 'mounted: {}\n',
    });
    chmodSync(join(root, 'salt-tree/metalk8s/archives/mounted.sls'), 0o640);
    const first = await runEngine(root, metalk8sTasks(root), ['salt_tree']);
    expect(first.executed.sort()).toEqual([
      '_build_root',
      'salt_tree:check-calls',
      'salt_tree:check-images',
      'salt_tree:metalk8s/archives/mounted.sls',
      'salt_tree:top.sls',
    ]);
    // METALK8S_SOURCE=none: the agent's calls are listed, not refused.
    expect(first.finished.find((r) => r.name === 'salt_tree:check-calls')!.out).toMatch(
      /METALK8S_SOURCE=none: salt-tree\/ lacks 5 of the \d+ Salt calls[^]*agent\/salt.ts: state metalk8s.archives/,
    );
    const salt = join(root, '_build/root/salt');
    expect(readFileSync(join(salt, 'top.sls'), 'utf8')).toBe('{%- set version = "2.4.1-dev" -%}\nbase: {}\n');
    expect(statSync(join(salt, 'metalk8s/archives/mounted.sls')).mode & 0o777).toBe(0o640);

    expect((await runEngine(root, metalk8sTasks(root), ['salt_tree'])).executed).toEqual([]);
    writeFileSync(join(root, 'VERSION'), 'VERSION_MAJOR=2\nVERSION_MINOR=4\nVERSION_PATCH=2\nVERSION_SUFFIX=\n');
    const bumped = await runEngine(root, metalk8sTasks(root), ['salt_tree']);
    // The ISO's image names carry the version: the formula's images are checked again.
    expect(bumped.executed.sort()).toEqual(['salt_tree:check-images', 'salt_tree:top.sls']);
    expect(readFileSync(join(salt, 'top.sls'), 'utf8')).toContain('"2.4.2"');
  });

  it('fails on an unknown template variable, naming file and line, and leaves no partial file', async () => {
    const root = project({ 'salt-tree/x.sls.in': 'ok\nversion: @@VERSON\n' });
    const report = await runEngine(root, metalk8sTasks(root), ['salt_tree']);
    expect(report.finished.find((r) => r.name === 'salt_tree:x.sls')!.error).toBe(
      `${join(root, 'salt-tree/x.sls.in')}:2: unknown template variable @@VERSON (known: @@VERSION, @@SHORT_VERSION, @@PROJECT_NAME, @@PROJECT_NAME_LOWER)`,
    );
    expect(() => statSync(join(root, '_build/root/salt/x.sls'))).toThrow();
  });
});

describe('iso', () => {
  it('writes the ISO of the tree and its SHA256SUM; two clean builds with SOURCE_DATE_EPOCH are identical', async () => {
    const root = project({
      'salt-tree/top.sls.in': 'version: @@VERSION\n',
      'salt-tree/metalk8s/defaults.yaml': 'a: 1\n',
    });
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const first = await runEngine(root, metalk8sTasks(root, env), ['iso']);
    expect(first.summary!.ok).toBe(true);
    const sum = readFileSync(join(root, '_build/SHA256SUM'), 'utf8');
    const digest = createHash('sha256')
      .update(readFileSync(join(root, '_build/metalk8s.iso')))
      .digest('hex');
    expect(sum).toBe(`${digest}  metalk8s.iso\n`);
    const listing = execFileSync(requireTool('isoinfo'), ['-R', '-f', '-i', join(root, '_build/metalk8s.iso')], {
      encoding: 'utf8',
    });
    expect(listing.split('\n').sort()).toContain('/salt/metalk8s/defaults.yaml');
    expect(
      execFileSync(requireTool('isoinfo'), ['-d', '-i', join(root, '_build/metalk8s.iso')], { encoding: 'utf8' }),
    ).toContain('Volume id: MetalK8s 2.4.1-dev');

    expect((await runEngine(root, metalk8sTasks(root, env), ['iso'])).summary!.proven).toBe(true);
    rmSync(join(root, '_build'), { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // fresh copies get later mtimes: clamped all the same
    await runEngine(root, metalk8sTasks(root, env), ['iso']);
    expect(readFileSync(join(root, '_build/SHA256SUM'), 'utf8')).toBe(sum);
  });
});

describe('iso tree ownership', () => {
  it('puts product.txt, the scripts and the examples at the ISO root, and leaves them alone after', async () => {
    const root = project({
      'scripts/bootstrap.sh.in': '#!/bin/bash\nVERSION=@@VERSION\n',
      'scripts/backup.sh': '#!/bin/bash\necho backup\n',
      'examples/new-node.yaml': 'kind: Node\n',
    });
    chmodSync(join(root, 'scripts/backup.sh'), 0o755);
    const env = { SOURCE_DATE_EPOCH: '1600000000', BUILD_HOST: 'builder' };
    const first = await runEngine(root, metalk8sTasks(root, env), ['_iso_add_tree']);
    expect(first.executed.filter((name) => name.startsWith('_iso_add_tree:')).sort()).toEqual([
      '_iso_add_tree:backup.sh',
      '_iso_add_tree:bootstrap.sh',
      '_iso_add_tree:examples/new-node.yaml',
      '_iso_add_tree:metalk8s-agent.cjs',
      '_iso_add_tree:product.txt',
      '_iso_add_tree:runtime',
    ]);
    const iso = join(root, '_build/root');
    expect(readFileSync(join(iso, 'product.txt'), 'utf8')).toBe(
      [
        'NAME=MetalK8s',
        'VERSION=2.4.1-dev',
        'SHORT_VERSION=2.4',
        'GIT=',
        'DEVELOPMENT_RELEASE=1',
        'PRODUCT_SOURCE=none (the stand-in salt-tree/, no UI or operator image: this ISO does not install MetalK8s)',
        'DOCUMENTATION=none (METALK8S_SOURCE=none)',
        'BUILD_TIMESTAMP=2020-09-13T12:26:40Z',
        'BUILD_HOST=builder',
        '',
      ].join('\n'),
    );
    expect(readFileSync(join(iso, 'bootstrap.sh'), 'utf8')).toBe('#!/bin/bash\nVERSION=2.4.1-dev\n');
    expect(statSync(join(iso, 'backup.sh')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(iso, 'examples/new-node.yaml'), 'utf8')).toBe('kind: Node\n');
    // The agent runs from the tree with the runtime beside it alone: no node_modules.
    expect(
      execFileSync(join(iso, 'runtime/node'), [join(iso, 'metalk8s-agent.cjs'), '--help'], {
        encoding: 'utf8',
        cwd: iso,
      }),
    ).toContain('solution-manager [-a ISO]...');
    expect((await runEngine(root, metalk8sTasks(root, env), ['_iso_add_tree'])).executed).toEqual([]);
    // Without SOURCE_DATE_EPOCH the build time is written once, then kept while nothing changes.
    const unpinned = { BUILD_HOST: 'builder' };
    expect((await runEngine(root, metalk8sTasks(root, unpinned), ['_iso_add_tree'])).executed).toEqual([
      '_iso_add_tree:product.txt',
    ]);
    expect((await runEngine(root, metalk8sTasks(root, unpinned), ['_iso_add_tree'])).executed).toEqual([]);
  });

  it('removes from the tree and the ISO what no task declares any more', async () => {
    const root = project({ 'salt-tree/keep.sls': 'keep\n', 'salt-tree/old/gone.sls': 'gone\n' });
    await runEngine(root, metalk8sTasks(root), ['iso']);
    const isoNames = (): string[] =>
      execFileSync(requireTool('isoinfo'), ['-R', '-f', '-i', join(root, '_build/metalk8s.iso')], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .sort();
    // The images family writes the registry configuration of the (here empty) image set.
    const registry = [
      '/salt/metalk8s',
      '/salt/metalk8s/repo',
      '/salt/metalk8s/repo/files',
      '/salt/metalk8s/repo/files/metalk8s-registry-common.inc',
      '/salt/metalk8s/repo/files/metalk8s-registry.inc',
    ];
    const runtime = ['/runtime', '/runtime/LICENSE', '/runtime/node'];
    expect(isoNames()).toEqual([
      '/metalk8s-agent.cjs',
      '/product.txt',
      ...runtime,
      '/salt',
      '/salt/keep.sls',
      ...registry,
      '/salt/old',
      '/salt/old/gone.sls',
      '/sbom.spdx.json',
    ]);

    rmSync(join(root, 'salt-tree/old'), { recursive: true });
    writeFileSync(join(root, '_build/root/stray.txt'), 'left by hand\n');
    const report = await runEngine(root, metalk8sTasks(root), ['iso']);
    const prune = report.finished.find((r) => r.name === '_iso_build:prune')!;
    expect(prune.out).toBe('removed salt/old/gone.sls\nremoved stray.txt\n');
    expect(isoNames()).toEqual([
      '/metalk8s-agent.cjs',
      '/product.txt',
      ...runtime,
      '/salt',
      '/salt/keep.sls',
      ...registry,
      '/sbom.spdx.json',
    ]);
    expect(() => statSync(join(root, '_build/root/salt/old'))).toThrow(); // emptied directory removed too
    // The pruning run could not be proven a no-op; the next is a plain no-op, the one after proven.
    expect((await runEngine(root, metalk8sTasks(root), ['iso'])).executed).toEqual([]);
    expect((await runEngine(root, metalk8sTasks(root), ['iso'])).summary!.proven).toBe(true);
  });
});

describe('./toolkit.ts iso', () => {
  it('creates, lists and extracts an ISO; bad usage exits 2, a missing file 1', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'tree/sub'), { recursive: true });
    writeFileSync(join(dir, 'tree/sub/file.txt'), 'content\n');
    const created = await runCli(
      ['iso', 'create', join(dir, 'tree'), '-o', join(dir, 'out.iso'), '--volid', 'Example 1.0'],
      { entry: 'toolkit.ts' },
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}  /);
    const listed = await runCli(['iso', 'ls', join(dir, 'out.iso')], { entry: 'toolkit.ts' });
    expect(listed.stdout).toBe('d 0755            0 sub/\nf 0644            8 sub/file.txt\n');
    const json = JSON.parse(
      (await runCli(['iso', 'ls', '--json', join(dir, 'out.iso')], { entry: 'toolkit.ts' })).stdout,
    ) as { volumeId: string };
    expect(json.volumeId).toBe('Example 1.0');
    expect((await runCli(['iso', 'extract', join(dir, 'out.iso'), join(dir, 'x')], { entry: 'toolkit.ts' })).code).toBe(
      0,
    );
    expect(readFileSync(join(dir, 'x/sub/file.txt'), 'utf8')).toBe('content\n');
    expect((await runCli(['iso', 'ls'], { entry: 'toolkit.ts' })).code).toBe(2);
    const missing = await runCli(['iso', 'ls', join(dir, 'nope.iso')], { entry: 'toolkit.ts' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.iso: cannot open');
  });
});

describe('declarations at list time', () => {
  it('./build.ts list, list --all and info refuse a broken declarations file with its one-line error', async () => {
    const tasksFile = `export { project } from ${JSON.stringify(join(PROJECT_ROOT, 'tasks/index.ts'))};\n`;
    const digest = `sha256:${'0'.repeat(64)}`;
    const root = project({
      'tasks.ts': tasksFile,
      'images/images.yaml': `remote:\n  - name: pause\n    image: k8s.gcr.io/pause\n    version: "3.1"\n    digest: ${digest}\nlocal:\n  - {name: tool, version: "1", definition: tool/image.yaml}\n`,
      'images/tool/image.yaml': 'name: tool\nversion: "1"\n',
    });
    const list = (...args: string[]) => runCli([...args, '-f', join(root, 'tasks.ts')], { cwd: root });
    expect((await list('list')).code).toBe(0);

    const images = join(root, 'images/images.yaml');
    writeFileSync(images, readFileSync(images, 'utf8').replace('digest:', 'digets:'));
    const unknown = `./build.ts: ${images}:5: remote[0] (pause): unknown key "digets" (did you mean "digest"?)\n`;
    for (const args of [['list'], ['list', '--all'], ['info', 'iso']]) {
      const result = await list(...args);
      expect([result.code, result.stderr], args.join(' ')).toEqual([1, unknown]);
    }
    writeFileSync(images, readFileSync(images, 'utf8').replace('digets:', 'digest:'));
    writeFileSync(join(root, 'images/tool/image.yaml'), 'name: tool\nversion: "1"\nlayers:\n  - {archiv: true}\n');
    expect((await list('list')).stderr).toBe(
      `./build.ts: ${join(root, 'images/tool/image.yaml')}:4: layers[0]: unknown key "archiv" (known keys: directory, to, files, rpms, packages, repositories, users)\n`,
    );
    writeFileSync(join(root, 'images/tool/image.yaml'), 'name: tool\nversion: "1"\n');
    writeFileSync(join(root, 'packages-rpm/packages.yaml'), 'packages:\n  - {name: kubelet, versoin: "1.15.5"}\n');
    expect((await list('list')).stderr).toBe(
      `./build.ts: ${join(root, 'packages-rpm/packages.yaml')}:2: packages[0] (kubelet): unknown key "versoin" (did you mean "version"?)\n`,
    );
  });
});
