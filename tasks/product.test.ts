import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool, runEngine } from '../test/helpers.ts';
import {
  PRODUCT_CHART,
  PRODUCT_FILES,
  busyboxBuilderBase,
  productImageDeclarations,
  productRepo,
} from '../test/product-repo.ts';
import { metalk8sTasks, project } from '../test/project.ts';
import { project as metalk8sProject } from './index.ts';
import { imageOf, pushImage, randomLayer, startRegistry } from '../test/registry.ts';

const run = promisify(execFile);
const failures = (report: Awaited<ReturnType<typeof runEngine>>) =>
  report.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`);

describe('the product source (METALK8S_SOURCE, METALK8S_COMMIT)', () => {
  it(
    'deploys salt/ and pillar/ of the pinned commit with templates rendered and versions.json; incremental; offline from the store',
    { timeout: 60_000 },
    async () => {
      const repo = productRepo();
      const head = repo.commit({ 'README.md': 'product\n' }, 'readme');
      repo.tag('2.4.1');
      const root = project({
        '.env': `METALK8S_SOURCE=${repo.dir}\nMETALK8S_COMMIT=${head}\n`,
        'images/images.yaml': `remote: []\nlocal:\n${productImageDeclarations('localhost/unused:1', 'unused')}`,
      });
      const first = await runEngine(root, metalk8sTasks(root), ['salt_tree', '_iso_add_tree:product.*']);
      expect(failures(first)).toEqual([]);
      const iso = join(root, '_build/root');
      // The product's VERSION (2.4.1, no suffix), not this repository's (2.4.1-dev): saltenv and top files.
      expect(readFileSync(join(iso, 'salt/top.sls'), 'utf8')).toBe(
        'metalk8s-2.4.1:\n  "*":\n    - metalk8s.roles.minion\n',
      );
      expect(readFileSync(join(iso, 'pillar/top.sls'), 'utf8')).toContain('metalk8s-2.4.1:');
      // GIT is the product's describe, taken at the fetch (the tag on the commit came with it).
      const describe = JSON.parse(readFileSync(join(root, '_build/sources/metalk8s.json'), 'utf8')).describe;
      expect(describe).toMatch(new RegExp(`^2\\.4\\.1-0-g${head.slice(0, 7)}[0-9a-f]*$`));
      const productTxt = readFileSync(join(iso, 'product.txt'), 'utf8');
      expect(productTxt).toMatch(
        new RegExp(
          [
            '^NAME=MetalK8s',
            'VERSION=2\\.4\\.1',
            'SHORT_VERSION=2\\.4',
            `GIT=${describe}`,
            'DEVELOPMENT_RELEASE=0',
            `PRODUCT_SOURCE=${repo.dir}@${head}`,
            'BUILDCHAIN_VERSION=2\\.4\\.1-dev',
            'BUILDCHAIN_GIT=.*',
            'DOCUMENTATION=.+',
            'BUILD_TIMESTAMP=.+',
            'BUILD_HOST=.+\\n$',
          ].join('\n'),
        ),
      );
      expect(readFileSync(join(iso, 'pillar/metalk8s/roles/minion.sls'), 'utf8')).toBe('metalk8s: {}\n');
      // The operator's CRD, from its manifests, in the state that applies it.
      expect(readFileSync(join(iso, 'salt/metalk8s/addons/volumes/volume-crd.sls'), 'utf8')).toBe(
        '#!kubernetes\napiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\n\n',
      );
      expect(JSON.parse(readFileSync(join(iso, 'salt/metalk8s/versions.json'), 'utf8'))).toEqual({
        packages: { centos: {}, redhat: {}, ubuntu: {} },
        images: { 'metalk8s-ui': { version: '2.4.1' }, 'storage-operator': { version: 'latest' } },
        metalk8s: { version: '2.4.1' },
      });
      expect(first.finished.find((r) => r.name === 'salt_tree:check-calls')!.out).toMatch(
        /\d+ Salt calls of the scripts and agent, all in .*product-source\/salt/,
      );
      expect((await runEngine(root, metalk8sTasks(root), ['salt_tree'])).executed).toEqual([]);

      // A new commit: fetched and unpacked, and only the file that changed is deployed again.
      const next = repo.commit(
        { 'salt/metalk8s/roles/minion.sls': 'include:\n  - metalk8s.archives\n# changed\n' },
        'change a state',
      );
      const env = { METALK8S_COMMIT: next };
      const changed = await runEngine(root, metalk8sTasks(root, env), ['salt_tree']);
      expect(changed.executed.sort()).toEqual([
        '_product_fetch',
        '_product_source',
        'salt_tree:check-calls',
        'salt_tree:check-images',
        'salt_tree:salt/metalk8s/roles/minion.sls',
      ]);
      expect(readFileSync(join(iso, 'salt/metalk8s/roles/minion.sls'), 'utf8')).toContain('# changed');
      // No tag names that commit: GIT is its abbreviated id (the history is not fetched).
      expect(JSON.parse(readFileSync(join(root, '_build/sources/metalk8s.json'), 'utf8')).describe).toMatch(
        new RegExp(`^${next.slice(0, 7)}[0-9a-f]*$`),
      );

      // Another VERSION: what names the version is made again, nothing else.
      const bumped = repo.commit(
        { VERSION: 'VERSION_MAJOR=2\nVERSION_MINOR=4\nVERSION_PATCH=2\nVERSION_SUFFIX=\n' },
        '2.4.2',
      );
      const bump = await runEngine(root, metalk8sTasks(root, { METALK8S_COMMIT: bumped }), [
        'salt_tree',
        '_iso_add_tree:product.*',
      ]);
      expect(failures(bump)).toEqual([]);
      expect(bump.executed.sort()).toEqual([
        '_iso_add_tree:product.txt',
        '_product_fetch',
        '_product_source',
        // versions.json gives the versions of the images the formula names: checked again.
        'salt_tree:check-images',
        'salt_tree:pillar/top.sls',
        'salt_tree:salt/metalk8s/versions.json',
        'salt_tree:salt/top.sls',
      ]);
      expect(readFileSync(join(iso, 'salt/top.sls'), 'utf8')).toContain('metalk8s-2.4.2:');
      expect(readFileSync(join(iso, 'product.txt'), 'utf8')).toContain('\nVERSION=2.4.2\n');

      // The source gone, the unpacked tree too: the store's archive gives the same tree, no git asked.
      rmSync(repo.dir, { recursive: true });
      rmSync(join(root, '_build/product-source'), { recursive: true });
      const offline = await runEngine(root, metalk8sTasks(root, { METALK8S_COMMIT: bumped, GIT_BIN: 'no-such-git' }), [
        'salt_tree',
      ]);
      expect(failures(offline)).toEqual([]);
      expect(offline.executed).toEqual(['_product_source']);
      expect(offline.finished.find((r) => r.name === '_product_source')!.out).toMatch(
        new RegExp(`${bumped}: from the store \\(sha256:[0-9a-f]{64}\\)`),
      );
    },
  );

  it(
    'takes the record and archive of the commit from a shared cache on a runner whose git source is gone',
    { timeout: 60_000 },
    async () => {
      const cache = await startRegistry();
      const repo = productRepo();
      const head = repo.commit({ 'README.md': 'product\n' }, 'readme');
      const env = `METALK8S_SOURCE=${repo.dir}\nMETALK8S_COMMIT=${head}\nCACHE_REGISTRY=${cache.host}/product-cache\n`;
      const images = `remote: []\nlocal:\n${productImageDeclarations('localhost/unused:1', 'unused')}`;
      const build = async (root: string) => {
        const made = metalk8sProject(root, {});
        return runEngine(root, made.definitions, ['_product_source'], {
          buildRoot: made.buildRoot,
          ...(made.cache ? { cache: made.cache } : {}),
        });
      };
      const a = project({ '.env': env, 'images/images.yaml': images });
      expect(failures(await build(a))).toEqual([]);

      rmSync(repo.dir, { recursive: true });
      const b = project({ '.env': `${env}GIT_BIN=no-such-git\n`, 'images/images.yaml': images });
      const second = await build(b);
      expect(failures(second)).toEqual([]);
      expect(second.finished.filter((r) => r.cached).map((r) => r.name)).toEqual(['_product_fetch']);
      expect(readFileSync(join(b, '_build/product-source/README.md'), 'utf8')).toBe('product\n');
      expect(readFileSync(join(b, '_build/sources/metalk8s.json'), 'utf8')).toBe(
        readFileSync(join(a, '_build/sources/metalk8s.json'), 'utf8'),
      );
    },
  );

  it(
    'names an unreachable source with its .env key within seconds, and a commit the source lacks',
    { timeout: 60_000 },
    async () => {
      const repo = productRepo();
      const missing = 'deadbeef'.repeat(5);
      const root = project({ '.env': `METALK8S_SOURCE=http://127.0.0.1:9/metalk8s.git\nMETALK8S_COMMIT=${missing}\n` });
      const started = Date.now();
      const down = await runEngine(root, metalk8sTasks(root), ['salt_tree']);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(down.finished.find((r) => r.name === '_product_fetch')!.error).toMatch(
        /^unreachable product source: http:\/\/127\.0\.0\.1:9\/metalk8s\.git \(METALK8S_SOURCE, \S*\.env:\d\): .*connect/i,
      );
      const check = down.finished.find((r) => r.name === '_product_fetch')!;
      expect(check.error).toContain(`holding commit ${missing}`);
      expect(check.settings).toEqual(['METALK8S_SOURCE=<git URL or path>']);
      expect(existsSync(join(root, '_build/product-source'))).toBe(false);

      const lacking = await runEngine(root, metalk8sTasks(root, { METALK8S_SOURCE: repo.dir }), ['salt_tree']);
      expect(lacking.finished.find((r) => r.name === '_product_fetch')!.error).toBe(
        `${repo.dir} (METALK8S_SOURCE, METALK8S_COMMIT): no commit ${missing} in its branches and tags`,
      );
      expect(() => metalk8sTasks(root, { METALK8S_COMMIT: 'v2.4.1' })).toThrow(
        'environment variable METALK8S_COMMIT: METALK8S_COMMIT must be a full commit id (40 lowercase hex digits), not "v2.4.1"',
      );
    },
  );

  it(
    "fails the build when a script calls a state the product's Salt tree lacks, naming the script, line and state",
    { timeout: 60_000 },
    async () => {
      const repo = productRepo();
      const head = repo.commit({ 'salt/metalk8s/roles/bootstrap.sls': 'include: []\n' }, 'bootstrap role');
      const root = project({
        '.env': `METALK8S_SOURCE=${repo.dir}\nMETALK8S_COMMIT=${head}\n`,
        'scripts/deploy.sh':
          '#!/bin/bash\n# salt-call state.sls metalk8s.in.a.comment\n"$SALT_CALL" --local state.sls metalk8s.roles.bootstrap \\\n  saltenv=base\nsalt-run state.orchestrate metalk8s.orchestrate.bootstrap\n' +
          'salt-run metalk8s_saltutil.sync_auth\n"$SALT_CALL" metalk8s.archive_info_from_iso /srv\n',
      });
      const report = await runEngine(root, metalk8sTasks(root), ['salt_tree']);
      expect(report.finished.find((r) => r.name === 'salt_tree:check-calls')!.error).toBe(
        [
          `the ISO's Salt tree (${join(root, '_build/product-source/salt')}) lacks what its scripts call:`,
          '  scripts/deploy.sh:5: state metalk8s.orchestrate.bootstrap',
          '  scripts/deploy.sh:6: runner function metalk8s_saltutil.sync_auth',
        ].join('\n'),
      );
    },
  );

  it(
    'fails the build when the formula names an image tag the ISO lacks, naming file, line and name:tag; an image declared by tag is locked and passes',
    { timeout: 60_000 },
    async () => {
      const chart = 'salt/metalk8s/addons/prometheus-operator/deployed/chart.sls';
      const line = PRODUCT_CHART[chart]!.split('\n').indexOf('  version: v2.12.0') + 1;
      const repo = productRepo({ ...PRODUCT_FILES, ...PRODUCT_CHART });
      const registry = await startRegistry();
      const digest = await pushImage(
        registry.host,
        'prometheus/prometheus',
        'v2.12.0',
        imageOf([await randomLayer('prometheus', 10_000)]),
      );
      const declare = (version: string) =>
        `remote:\n  - {name: prometheus, image: quay.io/prometheus/prometheus, version: "${version}"}\nlocal: []\n`;
      const root = project({
        '.env': `METALK8S_SOURCE=${repo.dir}\nMETALK8S_COMMIT=${repo.head}\nREGISTRY_MIRRORS=quay.io=${registry.host}\n`,
        'images/images.yaml': declare('v2.13.1'),
      });
      const stale = await runEngine(root, metalk8sTasks(root), ['salt_tree']);
      expect(failures(stale)).toEqual([
        [
          'salt_tree:check-images: the ISO lacks 1 image that its Salt formula names (declare it in images/images.yaml):',
          `  ${chart}:${line}: prometheus:v2.12.0 (the ISO has prometheus:v2.13.1)`,
        ].join('\n'),
      ]);

      // Declared at the formula's version, by tag: the registry's answer is locked, then pulled.
      writeFileSync(join(root, 'images/images.yaml'), declare('v2.12.0'));
      const fixed = await runEngine(root, metalk8sTasks(root), ['salt_tree', '_image_pull']);
      expect(failures(fixed)).toEqual([]);
      expect(fixed.finished.find((r) => r.name === 'salt_tree:check-images')!.out).toMatch(
        /^1 image reference in 11 files of the formula, all in the ISO\n?$/,
      );
      expect(readFileSync(join(root, 'images/images.lock.yaml'), 'utf8')).toContain(`digest: ${digest}\n`);
      expect(existsSync(join(root, '_build/root/images/prometheus/v2.12.0/manifest.json'))).toBe(true);
    },
  );

  it(
    'builds metalk8s-ui and storage-operator from the product source with podman, again only when their sources change',
    { timeout: 240_000 },
    async () => {
      const registry = await startRegistry();
      await pushImage(
        registry.host,
        'library/nginx',
        'product-test',
        imageOf([await randomLayer('nginx', 20_000)]),
        'v2s2',
      );
      const repo = productRepo();
      const head = repo.commit({ 'README.md': 'product\n' }, 'readme');
      const root = project({
        '.env': `METALK8S_SOURCE=${repo.dir}\nMETALK8S_COMMIT=${head}\nREGISTRY_MIRRORS=docker.io=${registry.host}\nDOCKER_BIN=${requireTool('podman')}\n`,
        'images/images.yaml': `remote: []\nlocal:\n${productImageDeclarations(busyboxBuilderBase(), 'product-test')}`,
      });
      const first = await runEngine(root, metalk8sTasks(root), ['images']);
      expect(failures(first)).toEqual([]);
      const images = join(root, '_build/root/images');
      const skopeo = requireTool('skopeo');
      const layerFile = async (layout: string, path: string) => {
        const manifest = JSON.parse(readFileSync(join(layout, 'manifest.json'), 'utf8')) as {
          layers: { digest: string }[];
        };
        return (await run(requireTool('bsdtar'), ['-xOf', join(layout, manifest.layers.at(-1)!.digest.slice(7)), path]))
          .stdout;
      };
      // The UI: nginx from the mirror (by its short name), with the product's configuration.
      const ui = join(images, 'metalk8s-ui/2.4.1');
      expect(await layerFile(ui, 'etc/nginx/conf.d/default.conf')).toBe('server { listen 80; }\n');
      expect((await run(skopeo, ['inspect', `dir:${ui}`])).stdout).toContain(
        '"org.opencontainers.image.version": "2.4.1"',
      );
      // The operator: compiled in its builder image, then its Dockerfile copies the output.
      const operator = join(images, 'storage-operator/latest');
      expect(await layerFile(operator, 'usr/local/bin/storage-operator')).toBe('#!/bin/sh\necho storage-operator\n');
      expect(
        existsSync(join(root, '_build/product-source/storage-operator/build/_output')),
        'the unpacked source is left as fetched',
      ).toBe(false);

      expect((await runEngine(root, metalk8sTasks(root), ['images'])).executed).toEqual([]);
      // A commit changing the UI only: the UI is built again, the operator is not.
      const next = repo.commit({ 'ui/conf/nginx.conf': 'server { listen 8080; }\n' }, 'ui port');
      const changed = await runEngine(root, metalk8sTasks(root, { METALK8S_COMMIT: next }), ['images']);
      expect(failures(changed)).toEqual([]);
      expect(changed.executed).toContain('_image_build:metalk8s-ui');
      expect(changed.executed).not.toContain('_image_build:storage-operator');
      expect(await layerFile(ui, 'etc/nginx/conf.d/default.conf')).toBe('server { listen 8080; }\n');
    },
  );
});
