// What the end-to-end projects share: their packages (fetched and built from spec), the ISO's
// examples, and an npm mirror of the agent's runtime.
import { chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, tempDir } from './helpers.ts';
import { runtimeTarball } from './node-runtime.ts';
import { declaredRuntime } from './runtime-cache.ts';
import { startNginx } from './servers-for-tests.ts';
import type { LocalServer } from './servers.ts';

/**
 * The packages of the end-to-end projects: `app` and its closure fetched from the `os` and `extra`
 * repositories of test/yum-repos.ts, and `hello-tool` built from a spec with one local source.
 */
export const E2E_PACKAGES: Record<string, string> = {
  'packages-rpm/packages.yaml': [
    'repositories:',
    '  - {name: os, baseurl: "https://os.example.invalid/7/x86_64", priority: 10}',
    '  - {name: extra, baseurl: "https://extra.example.invalid/7/x86_64", priority: 20}',
    'packages: [{name: app, version: "1.0"}, {name: webui}]',
    'build:',
    '  - {name: hello-tool, version: "1.0", release: "1", spec: hello-tool.spec, sources: [{file: hello.txt}]}',
    '',
  ].join('\n'),
  'packages-rpm/hello-tool.spec': [
    'Name: hello-tool',
    'Version: 1.0',
    'Release: 1%{?dist}',
    'Summary: hello',
    'License: MIT',
    'BuildArch: noarch',
    'Source0: hello.txt',
    '',
    '%description',
    'hello',
    '',
    '%install',
    'install -D -m 644 %{SOURCE0} %{buildroot}/usr/share/hello-tool/hello.txt',
    '',
    '%files',
    '/usr/share/hello-tool',
    '',
  ].join('\n'),
  'packages-rpm/hello.txt': 'hello\n',
};

/** The ISO's examples/, as the real project has them. */
export function copyExamples(root: string): void {
  mkdirSync(join(root, 'examples'));
  for (const example of readdirSync(join(PROJECT_ROOT, 'examples')))
    copyFileSync(join(PROJECT_ROOT, 'examples', example), join(root, 'examples', example));
}

/** An npm registry mirror (nginx on 127.0.0.1) serving the agent's real runtime tarball: NPM_REGISTRY. */
export async function startRuntimeMirror(): Promise<LocalServer> {
  const runtime = declaredRuntime();
  const npm = tempDir('mk8s-npm-');
  mkdirSync(join(npm, runtime.name, '-'), { recursive: true });
  copyFileSync(runtimeTarball(), join(npm, runtime.name, '-', `${runtime.name}-${runtime.version}.tgz`));
  chmodSync(npm, 0o755);
  return startNginx(`root ${npm};`);
}
