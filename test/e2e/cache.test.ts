// Two runners of a farm sharing a docker-registry as their cache (CACHE_REGISTRY): runner A builds
// the ISO from local mirrors and fills the cache; runner B, another checkout with another build
// root and every mirror out of reach, builds the same ISO bytes from the cache alone, running none
// of the tasks that build packages, repositories or images.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { project as metalk8sProject } from '../../tasks/index.ts';
import { runEngine, tempDir } from '../helpers.ts';
import { project } from '../project.ts';
import { imageOf, pushImage, randomLayer, startRegistry } from '../registry.ts';
import { serveTestRepos } from '../yum-repos.ts';
import { copyExamples, E2E_PACKAGES, startRuntimeMirror } from '../e2e-project.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** `./build.ts TASKS` on the project at `root` with these settings, as the CLI makes it (the cache included). */
async function build(root: string, tasks: string[]) {
  const made = metalk8sProject(root, {});
  const reporter = await runEngine(root, made.definitions, tasks, {
    buildRoot: made.buildRoot,
    ...(made.cache ? { cache: made.cache } : {}),
    ...(made.knownDigest ? { knownDigest: made.knownDigest } : {}),
  });
  const failures = reporter.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`);
  return { reporter, failures, buildRoot: made.buildRoot };
}

const dotenv = (settings: Record<string, string>) =>
  Object.entries(settings)
    .map(([key, value]) => `${key}=${value}\n`)
    .join('');

describe('two runners sharing a registry as their build cache', () => {
  it('builds the same ISO on a runner that reaches no mirror, from the cache alone', { timeout: 300_000 }, async () => {
    const mirror = await startRegistry();
    const cache = await startRegistry();
    const shared = await randomLayer('base', 200_000);
    const alertmanager = await pushImage(
      mirror.host,
      'prometheus/alertmanager',
      'v0.19.0',
      imageOf([shared, await randomLayer('am', 30_000)]),
      'v2s2',
    );
    const exporter = await pushImage(
      mirror.host,
      'prometheus/node-exporter',
      'v0.18.0',
      imageOf([shared, await randomLayer('ne', 30_000)]),
    );
    const repos = await serveTestRepos();
    const npmMirror = await startRuntimeMirror();

    const a = project(
      {
        'images/images.yaml': [
          'remote:',
          `  - {name: alertmanager, image: quay.io/prometheus/alertmanager, version: "v0.19.0", digest: "${alertmanager}"}`,
          `  - {name: node-exporter, image: quay.io/prometheus/node-exporter, version: "v0.18.0", digest: "${exporter}"}`,
          'local:',
          '  - {name: hello-image, version: "1.0", definition: hello-image/image.yaml}',
          '',
        ].join('\n'),
        // Built from the ISO's own package: after packaging, from its repositories.
        'images/hello-image/image.yaml': [
          'name: hello-image',
          'version: "1.0"',
          'layers:',
          '  - packages: [hello-tool]',
          'config: {Cmd: [cat, /usr/share/hello-tool/hello.txt]}',
          '',
        ].join('\n'),
        ...E2E_PACKAGES,
      },
      { runtime: 'fetch' },
    );
    copyExamples(a);
    const common = {
      METALK8S_SOURCE: 'none',
      CACHE_REGISTRY: `${cache.host}/metalk8s-cache`,
      SOURCE_DATE_EPOCH: '1600000000',
      BUILD_HOST: 'release-builder',
    };
    writeFileSync(
      join(a, '.env'),
      dotenv({
        ...common,
        NPM_REGISTRY: `http://${npmMirror.host}`,
        REGISTRY_MIRRORS: `quay.io=${mirror.host}`,
        YUM_MIRROR_OS: repos.url('os'),
        YUM_MIRROR_EXTRA: repos.url('extra'),
      }),
    );
    // The farm's checkout carries a committed package lock, as `rpm_lock` writes it.
    expect((await build(a, ['rpm_lock'])).failures).toEqual([]);
    const farmFiles = tempDir('mk8s-farm-b-');
    cpSync(a, farmFiles, { recursive: true, filter: (path) => !path.startsWith(join(a, '_build')) });

    const first = await build(a, ['iso']);
    expect(first.failures).toEqual([]);
    expect(first.reporter.warnings).toEqual([]);
    const isoA = readFileSync(join(first.buildRoot, 'metalk8s.iso'));

    // Runner B: another checkout, another build root, and no mirror answers: the npm mirror is
    // stopped (its URL stays: the SBOM names where the runtime comes from), nothing listens on 9.
    await npmMirror.stop();
    const b = farmFiles;
    writeFileSync(
      join(b, '.env'),
      dotenv({
        ...common,
        BUILD_ROOT: join(tempDir('mk8s-farm-root-'), 'build'),
        NPM_REGISTRY: `http://${npmMirror.host}`,
        REGISTRY_MIRRORS: 'quay.io=127.0.0.1:9',
        YUM_MIRROR_OS: 'http://127.0.0.1:9',
        YUM_MIRROR_EXTRA: 'http://127.0.0.1:9',
      }),
    );
    const second = await build(b, ['iso']);
    expect(second.failures).toEqual([]);
    expect(second.reporter.warnings).toEqual([]);
    expect(sha256(readFileSync(join(second.buildRoot, 'metalk8s.iso')))).toBe(sha256(isoA));
    const cached = second.reporter.finished.filter((r) => r.cached).map((r) => r.name);
    expect(cached).toEqual(
      expect.arrayContaining([
        '_build_rpm_packages:hello-tool/srpm',
        '_build_rpm_packages:hello-tool/rpm',
        '_build_rpm_repositories:os',
        '_build_rpm_repositories:extra',
        '_build_rpm_repositories:scality',
        '_image_build:hello-image',
        '_iso_add_tree:runtime',
      ]),
    );
    for (const name of cached) expect(second.reporter.executed).not.toContain(name);
  });
});
