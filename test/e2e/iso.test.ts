// The whole chain as a release engineer runs it and a node uses the result: local mirrors (a
// docker-registry seeded with generated images, yum repositories of generated RPMs) stand in for
// the real sources through .env settings; `iso` builds the ISO; xorriso reads it; the extracted
// ISO's images are served by nginx with the ISO's own registry configuration and pulled back by
// skopeo; dnf reads its yum repositories from files; a second build does nothing; a clean
// rebuild gives the same bytes. The product source is a local git repository (test/product-repo.ts):
// its Salt tree and its two images are built from it, in upstream's layout.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  cpSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../tasks/config.ts';
import { IsoReader } from '../../buildchain/iso9660/reader.ts';
import { importInputs } from '../../buildchain/offline/inputs.ts';
import { verifyIso } from '../../buildchain/release/verify.ts';
import { PROJECT_ROOT, requireTool, runEngine, tempDir } from '../helpers.ts';
import { renderJinja } from '../jinja.ts';
import { busyboxBuilderBase, productImageDeclarations, productRepo } from '../product-repo.ts';
import { metalk8sTasks, project } from '../project.ts';
import { layoutMismatches, productTxtMismatches } from '../upstream-layout.ts';
import { imageOf, pushImage, randomLayer, startRegistry } from '../registry.ts';
import { startNginx } from '../servers-for-tests.ts';
import { declaredRuntime } from '../runtime-cache.ts';
import { isolatedDnfArgs, serveTestRepos } from '../yum-repos.ts';
import { copyExamples, E2E_PACKAGES, startRuntimeMirror } from '../e2e-project.ts';

const run = promisify(execFile);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** ELF files under `root` that need a GLIBC symbol version above 2.17, with that version (objdump -T). */
function glibcAbove217(root: string): string[] {
  const objdump = requireTool('objdump');
  const found: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (!entry.isFile()) continue;
    const head = Buffer.alloc(4);
    const fd = openSync(path, 'r');
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) continue;
    const versions = [
      ...execFileSync(objdump, ['-T', path], { encoding: 'utf8', maxBuffer: 64 << 20 }).matchAll(/GLIBC_(\d+)\.(\d+)/g),
    ];
    const newest = versions
      .map((m) => [Number(m[1]), Number(m[2])] as const)
      .sort((a, b) => b[0] - a[0] || b[1] - a[1])[0];
    if (!newest) found.push(`${path}: no GLIBC version found by objdump -T`);
    else if (newest[0] > 2 || (newest[0] === 2 && newest[1] > 17))
      found.push(`${path}: needs GLIBC_${newest.join('.')}`);
  }
  return found;
}

describe('the MetalK8s ISO, end to end against local mirrors', () => {
  it(
    'builds an ISO whose images, registry configuration and repositories work offline, reproducibly',
    { timeout: 300_000 },
    async () => {
      // Mirrors: images under their declared names, and yum repositories.
      const registry = await startRegistry();
      const shared = await randomLayer('base', 300_000);
      const alertmanager = await pushImage(
        registry.host,
        'prometheus/alertmanager',
        'v0.19.0',
        imageOf([shared, await randomLayer('am', 50_000)]),
        'v2s2',
      );
      const exporter = await pushImage(
        registry.host,
        'prometheus/node-exporter',
        'v0.18.0',
        imageOf([shared, await randomLayer('ne', 50_000)]),
      );
      const pause = await pushImage(
        registry.host,
        'pause',
        '3.1',
        imageOf([await randomLayer('pause', 10_000)]),
        'v2s2',
      );
      await pushImage(registry.host, 'library/nginx', 'e2e-iso', imageOf([await randomLayer('nginx', 20_000)]), 'v2s2');
      const repos = await serveTestRepos();
      const product = productRepo();
      const commit = product.commit({ 'README.md': 'MetalK8s\n' }, 'release');
      product.tag('2.4.1');

      const root = project(
        {
          'images/images.yaml': [
            'remote:',
            `  - {name: alertmanager, image: quay.io/prometheus/alertmanager, version: "v0.19.0", digest: "${alertmanager}"}`,
            // By tag only: the first build records its digest in images/images.lock.yaml.
            '  - {name: node-exporter, image: quay.io/prometheus/node-exporter, version: "v0.18.0"}',
            `  - {name: pause, image: k8s.gcr.io/pause, version: "3.1", digest: "${pause}", archive: salt/metalk8s/container-engine/containerd/files}`,
            'local:',
            '  - {name: hello-image, version: "1.0", definition: hello-image/image.yaml}',
            '  - {name: hello-dockerfile, version: "1.0", definition: hello-dockerfile/Dockerfile}',
            productImageDeclarations(busyboxBuilderBase(), 'e2e-iso'),
          ].join('\n'),
          // A local image whose first layer is a package of the ISO, built from spec, and whose second
          // comes from a yum repository it names, pinned in the image's lock: no daemon, no yum.
          'images/hello-image/image.yaml': [
            'name: hello-image',
            'version: "1.0"',
            'layers:',
            '  - packages: [hello-tool]',
            '  - packages: [tinyhttpd]',
            '    repositories: [extra]',
            'config: {Cmd: [cat, /usr/share/hello-tool/hello.txt]}',
            '',
          ].join('\n'),
          // And one built by DOCKER_BIN (podman), which the air-gapped farm below does not have.
          'images/hello-dockerfile/Dockerfile': 'FROM scratch\nCOPY greeting.txt /greeting.txt\n',
          'images/hello-dockerfile/greeting.txt': 'bonjour\n',
          ...E2E_PACKAGES,
        },
        { runtime: 'fetch' },
      );
      copyExamples(root);
      // The agent's runtime, from an npm registry mirror serving the real tarball.
      const npmMirror = await startRuntimeMirror();
      const runtime = declaredRuntime();
      const settings = {
        NPM_REGISTRY: `http://${npmMirror.host}`,
        REGISTRY_MIRRORS: `quay.io=${registry.host},k8s.gcr.io=${registry.host},docker.io=${registry.host}`,
        METALK8S_SOURCE: product.dir,
        METALK8S_COMMIT: commit,
        YUM_MIRROR_OS: repos.url('os'),
        YUM_MIRROR_EXTRA: repos.url('extra'),
        SOURCE_DATE_EPOCH: '1600000000',
        BUILD_HOST: 'release-builder',
        DOCKER_BIN: requireTool('podman'),
        // documentation/ as upstream ships it: the PDF, which needs LaTeX.
        SPHINX_BUILD_BIN: requireTool('sphinx-build'),
        LATEXMK_BIN: requireTool('latexmk'),
      };
      writeFileSync(
        join(root, '.env'),
        Object.entries(settings)
          .map(([key, value]) => `${key}=${value}\n`)
          .join(''),
      );

      const first = await runEngine(root, metalk8sTasks(root, {}), ['iso']);
      expect(first.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`)).toEqual([]);
      const iso = join(root, '_build/metalk8s.iso');
      const isoBytes = readFileSync(iso);
      expect(readFileSync(join(root, '_build/SHA256SUM'), 'utf8')).toBe(`${sha256(isoBytes)}  metalk8s.iso\n`);

      // What xorriso sees: the upstream layout.
      const listed = execFileSync(requireTool('xorriso'), ['-indev', iso, '-find', '/', '-type', 'f'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      })
        .split('\n')
        .map((line) => line.replace(/^'|'$/g, ''))
        .filter(Boolean);
      for (const path of [
        '/product.txt',
        '/documentation/user-guide.pdf',
        '/examples/new-node.yaml',
        '/examples/prometheus-sparse.yaml',
        '/images/alertmanager/v0.19.0/manifest.json',
        '/images/node-exporter/v0.18.0/version',
        '/images/hello-image/1.0/manifest.json',
        '/images/hello-dockerfile/1.0/manifest.json',
        '/images/metalk8s-ui/2.4.1/manifest.json',
        '/images/storage-operator/latest/manifest.json',
        '/salt/top.sls',
        '/pillar/top.sls',
        '/salt/metalk8s/versions.json',
        '/salt/metalk8s/container-engine/containerd/files/pause-3.1.tar',
        '/packages/redhat/metalk8s-os-el7/repodata/repomd.xml',
        '/packages/redhat/metalk8s-extra-el7/webui-2.0-1.noarch.rpm',
        '/packages/redhat/metalk8s-scality-el7/hello-tool-1.0-1.el7.noarch.rpm',
        '/salt/metalk8s/repo/files/metalk8s-registry.inc',
        '/salt/metalk8s/repo/files/metalk8s-registry-common.inc',
        '/metalk8s-agent.cjs',
        '/runtime/node',
        '/runtime/LICENSE',
      ])
        expect(listed, path).toContain(path);
      // Upstream 2.4.1's layout: every path is where upstream puts it, or one of our additions.
      expect(layoutMismatches(listed.map((path) => path.slice(1)))).toEqual({ unplaced: [], missing: [] });

      // The SBOM lists every image and package with its digest and origin; verify checks the ISO
      // against it, and names a package whose bytes changed even when SHA256SUM was redone.
      const sbomFile = join(tempDir(), 'sbom.spdx.json');
      execFileSync(requireTool('xorriso'), ['-osirrox', 'on', '-indev', iso, '-extract', '/sbom.spdx.json', sbomFile], {
        stdio: 'ignore',
      });
      const sbom = JSON.parse(readFileSync(sbomFile, 'utf8')) as {
        spdxVersion: string;
        name: string;
        creationInfo: { creators: string[] };
        packages: {
          name: string;
          packageFileName: string;
          checksums: { checksumValue: string }[];
          externalRefs: { referenceLocator: string }[];
          comment: string;
        }[];
      };
      expect(sbom.spdxVersion).toBe('SPDX-2.3');
      // The product's version names the document; the build chain's own wrote it.
      expect(sbom.name).toBe('MetalK8s 2.4.1');
      expect(sbom.creationInfo.creators).toContain(
        `Tool: metalk8s-buildchain-${loadConfig(PROJECT_ROOT).version.full}`,
      );
      const byName = new Map(sbom.packages.map((pkg) => [pkg.name, pkg]));
      expect(byName.get('alertmanager')).toMatchObject({
        packageFileName: 'images/alertmanager/v0.19.0',
        checksums: [{ checksumValue: alertmanager.slice(7) }],
      });
      expect(byName.get('pause')!.packageFileName).toBe(
        'salt/metalk8s/container-engine/containerd/files/pause-3.1.tar',
      );
      expect(byName.get('metalk8s')).toMatchObject({
        versionInfo: commit,
        downloadLocation: `git+file://${product.dir}@${commit}`,
        primaryPackagePurpose: 'SOURCE',
      });
      expect(byName.get('app')).toMatchObject({
        packageFileName: 'packages/redhat/metalk8s-os-el7/app-1.0-1.x86_64.rpm',
        comment: 'fetched from yum repository os',
      });
      expect(byName.get('app')!.externalRefs[0]!.referenceLocator).toBe('pkg:rpm/os/app@1.0-1?arch=x86_64');
      expect(byName.get('hello-tool')!.comment).toBe('built from packages-rpm/hello-tool.spec');
      expect(byName.get(runtime.name)).toMatchObject({
        packageFileName: 'runtime/node',
        versionInfo: runtime.version,
        downloadLocation: `http://${npmMirror.host}/${runtime.name}/-/${runtime.name}-${runtime.version}.tgz`,
      });
      expect(sbom.packages).toHaveLength(7 + 9 + 1 + 1);
      const verified = await verifyIso(iso, { gpg: requireTool('gpg'), signal: new AbortController().signal });
      expect(verified[1]).toMatch(/^17 images and packages of sbom.spdx.json match their \d+ files in the ISO$/);

      // The layer both images share is one extent in the ISO.
      const reader = await IsoReader.open(iso);
      const extracted = join(tempDir('mk8s-e2e-'), 'metalk8s-2.4.1');
      try {
        const entries = (await reader.list()).entries;
        const layer = entries.filter((entry) => entry.path.endsWith(`/${shared.digest.slice(7)}`));
        expect(layer).toHaveLength(2);
        expect(layer[0]!.extents).toEqual(layer[1]!.extents);
        await reader.extract(extracted);
        // A copy of the ISO with one byte of a package changed, and a SHA256SUM made for the copy.
        const rpm = entries.find((entry) => entry.path === 'packages/redhat/metalk8s-os-el7/libfoo-2.3-1.x86_64.rpm')!;
        const copy = join(tempDir('mk8s-tampered-'), 'metalk8s.iso');
        const tampered = Buffer.from(isoBytes);
        tampered[rpm.extents[0]![0] * 2048 + 1000]! ^= 0xff;
        writeFileSync(copy, tampered);
        writeFileSync(join(copy, '..', 'SHA256SUM'), `${sha256(tampered)}  metalk8s.iso\n`);
        await expect(
          verifyIso(copy, { gpg: requireTool('gpg'), signal: new AbortController().signal }),
        ).rejects.toThrow(`${copy}: packages/redhat/metalk8s-os-el7/libfoo-2.3-1.x86_64.rpm has sha256`);
      } finally {
        await reader.close();
      }
      // The product's version, from its source (VERSION 2.4.1, no suffix), and ours under a key of its own.
      const productTxt = readFileSync(join(extracted, 'product.txt'), 'utf8');
      expect(productTxtMismatches(productTxt)).toEqual({ missing: [], unknown: [], outOfOrder: [] });
      const fields = new Map(
        productTxt
          .trim()
          .split('\n')
          .map((line) => line.split('=', 2) as [string, string]),
      );
      expect(Object.fromEntries(fields)).toMatchObject({
        NAME: 'MetalK8s',
        VERSION: '2.4.1',
        SHORT_VERSION: '2.4',
        DEVELOPMENT_RELEASE: '0',
        BUILD_HOST: 'release-builder',
        BUILDCHAIN_VERSION: loadConfig(PROJECT_ROOT).version.full,
        PRODUCT_SOURCE: `${product.dir}@${commit}`,
        DOCUMENTATION: 'pdf (documentation/user-guide.pdf)',
      });
      expect(fields.get('GIT')).toMatch(new RegExp(`^2\\.4\\.1-0-g${commit.slice(0, 7)}[0-9a-f]*$`));
      expect(execFileSync(requireTool('isoinfo'), ['-d', '-i', iso], { encoding: 'utf8' })).toContain(
        'Volume id: MetalK8s 2.4.1\n',
      );
      // Pins as declared, null where packages.yaml (as upstream's versions.py) leaves a package free.
      expect(JSON.parse(readFileSync(join(extracted, 'salt/metalk8s/versions.json'), 'utf8'))).toMatchObject({
        packages: {
          centos: { app: { version: '1.0' }, webui: { version: null }, 'hello-tool': { version: '1.0-1.el7' } },
        },
        images: { 'metalk8s-ui': { version: '2.4.1' }, 'storage-operator': { version: 'latest' } },
        metalk8s: { version: '2.4.1' },
      });
      // The saltenv and mount path the product's Salt states and the scripts name.
      expect(readFileSync(join(extracted, 'salt/top.sls'), 'utf8')).toContain('metalk8s-2.4.1:');
      expect(readFileSync(join(extracted, 'documentation/user-guide.pdf')).subarray(0, 5).toString()).toBe('%PDF-');
      // What runs on a node runs on CentOS/RHEL 7: no ELF file of the ISO needs a glibc above 2.17.
      expect(glibcAbove217(extracted)).toEqual([]);
      const newer = tempDir('mk8s-newer-glibc-');
      copyFileSync(process.execPath, join(newer, 'node')); // the test runner's Node.js 20 needs glibc 2.28
      expect(glibcAbove217(newer)).toEqual([expect.stringMatching(/node: needs GLIBC_2\.(2[89]|3\d)/)]);
      expect(
        execFileSync(join(extracted, 'runtime/node'), [join(extracted, 'metalk8s-agent.cjs'), '--help'], {
          encoding: 'utf8',
        }),
      ).toContain('iso-manager');

      // A node serves the images with the ISO's own registry configuration and the variable Salt
      // sets from the archive's mount point; clients pull by the pinned digests.
      const variables = renderJinja(
        readFileSync(join(PROJECT_ROOT, 'salt-tree/metalk8s/repo/files/metalk8s-registry-config.inc.j2'), 'utf8'),
        {
          archives: { 'metalk8s-2.4.1': { path: extracted, version: '2.4.1' } },
        },
      );
      writeFileSync(join(extracted, '..', 'variables.inc'), variables);
      const files = join(extracted, 'salt/metalk8s/repo/files');
      const nginx = await startNginx(
        [
          join(extracted, '..', 'variables.inc'),
          join(files, 'metalk8s-registry-common.inc'),
          join(files, 'metalk8s-registry.inc'),
        ]
          .map((file) => `include ${file};`)
          .join('\n'),
      );
      const skopeo = requireTool('skopeo');
      for (const [name, digest] of [
        ['alertmanager', alertmanager],
        ['node-exporter', exporter],
      ] as const) {
        const { stdout } = await run(skopeo, [
          'inspect',
          '--raw',
          '--tls-verify=false',
          `docker://${nginx.host}/metalk8s-2.4.1/${name}@${digest}`,
        ]);
        expect(`sha256:${sha256(Buffer.from(stdout))}`, name).toBe(digest);
      }
      // The product's images, built from its source, pulled by tag as the cluster's manifests name them.
      for (const [name, tag] of [
        ['metalk8s-ui', '2.4.1'],
        ['storage-operator', 'latest'],
      ] as const) {
        const { stdout } = await run(skopeo, [
          'inspect',
          '--raw',
          '--tls-verify=false',
          `docker://${nginx.host}/metalk8s-2.4.1/${name}:${tag}`,
        ]);
        expect(stdout, name).toBe(readFileSync(join(extracted, 'images', name, tag, 'manifest.json'), 'utf8'));
      }

      // The local image, pulled by tag: its layer holds the package's files.
      const helloDir = join(tempDir(), 'hello');
      await run(skopeo, [
        'copy',
        '--src-tls-verify=false',
        `docker://${nginx.host}/metalk8s-2.4.1/hello-image:1.0`,
        `dir:${helloDir}`,
      ]);
      const helloManifest = JSON.parse(readFileSync(join(helloDir, 'manifest.json'), 'utf8')) as {
        layers: { digest: string }[];
      };
      const helloLayer = join(helloDir, helloManifest.layers[0]!.digest.slice(7));
      expect(
        execFileSync(requireTool('bsdtar'), ['-xOf', helloLayer, 'usr/share/hello-tool/hello.txt'], {
          encoding: 'utf8',
        }),
      ).toBe('hello\n');
      expect(
        execFileSync(requireTool('bsdtar'), ['-tf', join(helloDir, helloManifest.layers[1]!.digest.slice(7))], {
          encoding: 'utf8',
        }),
      ).toContain('usr/share/tinyhttpd/README');

      // dnf reads the ISO's repositories from the extracted files, with no network.
      const installroot = tempDir('mk8s-dnf-');
      const { stdout: packages } = await run(requireTool('dnf'), [
        ...isolatedDnfArgs(installroot),
        ...['os', 'extra', 'scality'].map(
          (repo) => `--repofrompath=${repo},file://${join(extracted, 'packages/redhat', `metalk8s-${repo}-el7`)}`,
        ),
        'repoquery',
        '--qf',
        '%{name}',
      ]);
      expect(packages.trim().split('\n').sort()).toEqual([
        'app',
        'base-os-lib',
        'config-data',
        'data',
        'hello-tool',
        'helper',
        'libfoo',
        'tinyhttpd',
        'webui',
      ]);

      // An air-gapped farm: the inputs exported here, imported into another machine's empty build
      // root, build the same ISO there with no network at all.
      expect(
        (await runEngine(root, metalk8sTasks(root, {}), ['offline_export'])).finished.filter(
          (r) => r.result === 'fail',
        ),
      ).toEqual([]);
      const exported = join(root, '_build/offline-inputs.tar');
      expect(execFileSync(requireTool('bsdtar'), ['-tf', exported], { encoding: 'utf8' }).split('\n')).toEqual(
        expect.arrayContaining([
          'packages.lock.json',
          'image-packages/hello-image.lock.json',
          'built-images/hello-dockerfile.json',
          'built-images/metalk8s-ui.json',
          'sources/metalk8s.json',
          'images.lock.yaml',
        ]),
      );
      expect(readFileSync(join(root, 'images/images.lock.yaml'), 'utf8')).toContain(`digest: ${exporter}\n`);
      const farm = tempDir('mk8s-farm-');
      cpSync(root, farm, { recursive: true, filter: (path) => !path.startsWith(join(root, '_build')) });
      // The lock the build recorded, not committed yet: the archive carries it.
      rmSync(join(farm, 'images/images.lock.yaml'));
      const offline = {
        REGISTRY_MIRRORS: 'quay.io=127.0.0.1:9,k8s.gcr.io=127.0.0.1:9',
        YUM_MIRROR_OS: 'http://127.0.0.1:9',
        YUM_MIRROR_EXTRA: 'http://127.0.0.1:9',
        DOCKER_BIN: 'no-such-docker',
      };
      const corrupt = join(tempDir(), 'corrupt.tar');
      const tampered = readFileSync(exported);
      // Inside the first blob: the data block after the first header naming blobs/sha256/<hex>.
      const firstBlob = /blobs\/sha256\/[0-9a-f]{64}/.exec(tampered.toString('latin1'))!.index;
      tampered[firstBlob + 512 + 100]! ^= 0xff;
      writeFileSync(corrupt, tampered);
      await expect(importInputs(loadConfig(farm, offline), corrupt)).rejects.toThrow(
        /corrupt\.tar: blobs\/sha256\/[0-9a-f]{64}.*digest mismatch/,
      );
      expect((await importInputs(loadConfig(farm, offline), exported)).blobs).toBeGreaterThan(10);
      expect(readFileSync(join(farm, 'images/images.lock.yaml'), 'utf8')).toContain(`digest: ${exporter}\n`);
      // The product's repository is out of reach too (moved away: its path is part of the ISO's record).
      renameSync(product.dir, `${product.dir}.away`);
      const airGapped = await runEngine(farm, metalk8sTasks(farm, offline), ['iso']);
      renameSync(`${product.dir}.away`, product.dir);
      expect(airGapped.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`)).toEqual(
        [],
      );
      expect(sha256(readFileSync(join(farm, '_build/metalk8s.iso')))).toBe(sha256(isoBytes));

      // Nothing changed: nothing runs. A clean rebuild (store kept, sources unreachable): same bytes.
      const second = await runEngine(root, metalk8sTasks(root, {}), ['iso']);
      expect(second.executed).toEqual([]);
      rmSync(join(root, '_build/root'), { recursive: true });
      rmSync(iso);
      const rebuilt = await runEngine(root, metalk8sTasks(root, offline), ['iso']);
      expect(rebuilt.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`)).toEqual([]);
      expect(sha256(readFileSync(iso))).toBe(sha256(isoBytes));
    },
  );
});
