// A product source made on this machine: a local git repository shaped like MetalK8s' own (salt/,
// pillar/ with `.in` templates, the storage operator's manifests, ui/ and storage-operator/ with
// their Dockerfiles, a two-page Sphinx docs/ configured as upstream's), its two images as images.yaml declares them, and the local builder image its
// operator compiles in. No test-runner imports: the tests (product-repo.ts) and the demo use it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireExecutable } from '../buildchain/tools.ts';

/** The Salt names the agent calls, which any ISO's Salt tree must hold. */
const AGENT_STATES: Record<string, string> = {
  'salt/metalk8s/archives/init.sls': 'include: []\n',
  'salt/metalk8s/archives/mounted.sls': 'include: []\n',
  'salt/metalk8s/archives/configured.sls': 'include: []\n',
  'salt/metalk8s/orchestrate/solutions/init.sls': 'include: []\n',
  'salt/metalk8s/orchestrate/solutions/available.sls': 'include: []\n',
};

/**
 * docs/ as upstream's conf.py sets it up, in small: the Read the Docs theme, an extension Debian
 * does not package (left out by the build), a LaTeX preamble and the document the PDF is made of.
 */
const DOCS: Record<string, string> = {
  'docs/conf.py': [
    "project = 'MetalK8s'",
    "extensions = ['sphinx.ext.todo', 'sphinxcontrib_github_alt']",
    "master_doc = 'index'",
    "exclude_patterns = ['_build']",
    "html_theme = 'sphinx_rtd_theme'",
    "latex_elements = {'papersize': 'a4paper', 'preamble': r'''",
    '\\usepackage{charter}',
    '\\usepackage[defaultsans]{lato}',
    "'''}",
    "latex_documents = [('index', 'MetalK8s.tex', 'MetalK8s Documentation', 'Scality', 'manual', True)]",
    '',
  ].join('\n'),
  'docs/index.rst': 'MetalK8s\n========\n\nAn opinionated Kubernetes distribution.\n\n.. toctree::\n\n   quickstart\n',
  'docs/quickstart.rst': 'Quickstart\n==========\n\nRun the bootstrap script.\n',
};

export const PRODUCT_FILES: Record<string, string> = {
  ...AGENT_STATES,
  ...DOCS,
  // A release's VERSION, without the `-dev` suffix of this repository's own: the ISO's version,
  // saltenv and mount path must come from here.
  VERSION: 'VERSION_MAJOR=2\nVERSION_MINOR=4\nVERSION_PATCH=1\nVERSION_SUFFIX=\n',
  'salt/top.sls.in': 'metalk8s-@@VERSION:\n  "*":\n    - metalk8s.roles.minion\n',
  'salt/metalk8s/roles/minion.sls': 'include:\n  - metalk8s.archives\n',
  'salt/metalk8s/addons/volumes/volume-crd.sls.in': '#!kubernetes\n@@CustomResourceDefinition\n',
  'salt/_modules/metalk8s.py':
    "__virtualname__ = 'metalk8s'\n\ndef archive_info_from_iso(path):\n    return path\n\ndef get_archives(archives=None):\n    return {}\n",
  'pillar/top.sls.in': 'metalk8s-@@VERSION:\n  "*":\n    - metalk8s.roles.minion\n',
  'pillar/metalk8s/roles/minion.sls': 'metalk8s: {}\n',
  'storage-operator/deploy/crds/storage_v1alpha1_volume_crd.yaml':
    'apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\n',
  // The UI as upstream builds it: nginx's version as a build argument, its configuration copied in.
  'ui/Dockerfile':
    'ARG NGINX_IMAGE_VERSION=1.0\nFROM nginx:${NGINX_IMAGE_VERSION}\nCOPY conf/nginx.conf /etc/nginx/conf.d/default.conf\n',
  'ui/conf/nginx.conf': 'server { listen 80; }\n',
  // The operator: a builder image (whose FROM the build replaces with a pinned one), a program
  // "compiled" in it into build/_output, and the image of that output.
  'storage-operator/Dockerfile': 'FROM golang:1.13-alpine\n',
  'storage-operator/cmd/manager/main.sh': '#!/bin/sh\necho storage-operator\n',
  'storage-operator/build/Dockerfile':
    'FROM scratch\nCOPY build/_output/bin/storage-operator /usr/local/bin/storage-operator\n',
};

/**
 * A chart state shaped like MetalK8s' prometheus-operator one: the Prometheus resource names its
 * image by `baseImage` and a `version` beside it (the tag the ISO must hold: prometheus v2.12.0,
 * declared by tag only in images.yaml), between traps a scan must not take for images: a CRD's
 * schema with `image`, `tag` and `version` keys, and a commented-out image line.
 */
export const PRODUCT_CHART: Record<string, string> = {
  'salt/metalk8s/addons/prometheus-operator/deployed/chart.sls': [
    '#!jinja | metalk8s_kubernetes kubeconfig=/etc/kubernetes/admin.conf&context=kubernetes-admin@kubernetes',
    '{%- from "metalk8s/repo/macro.sls" import build_image_name with context %}',
    '{% raw %}',
    'apiVersion: apiextensions.k8s.io/v1beta1',
    'kind: CustomResourceDefinition',
    'spec:',
    '  validation:',
    '    openAPIV3Schema:',
    '      properties:',
    '        image:',
    '          description: Image if specified has precedence over baseImage and tag.',
    '          type: string',
    '        tag:',
    '          type: string',
    '        version:',
    '          description: Version of Prometheus to be deployed.',
    '          type: string',
    '  version: v1',
    '---',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: Prometheus',
    'metadata:',
    '  name: prometheus-operator-prometheus',
    'spec:',
    `  baseImage: '{%- endraw -%}{{ build_image_name("prometheus", False) }}{%- raw -%}'`,
    '  replicas: 1',
    '  # image: quay.io/prometheus/prometheus:v2.13.1',
    '  tolerations:',
    '  - key: node-role.kubernetes.io/infra',
    '    operator: Exists',
    '  version: v2.12.0',
    '{% endraw %}',
    '',
  ].join('\n'),
};

export interface ProductRepo {
  dir: string;
  /** The commit of the repository's first files. */
  head: string;
  /** Commits the given changes (path -> text); answers the new commit id. */
  commit(files: Record<string, string>, message: string): string;
  /** Tags the last commit (annotated, as upstream's releases). */
  tag(name: string): void;
}

/** A git repository made in `dir` (existing, empty), holding `files` in its first commit. */
export function productRepository(dir: string, files: Record<string, string> = PRODUCT_FILES): ProductRepo {
  const git = requireExecutable('git');
  const run = (...args: string[]) =>
    execFileSync(git, ['-C', dir, ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z' },
    }).trim();
  run('init', '--quiet', '--initial-branch=development/2.4');
  run('config', 'user.email', 'tests@metalk8s.invalid');
  run('config', 'user.name', 'tests');
  const commit = (changes: Record<string, string>, message: string) => {
    for (const [path, text] of Object.entries(changes)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text, { mode: path.endsWith('.sh') ? 0o755 : 0o644 });
    }
    run('add', '--all');
    run('commit', '--quiet', '-m', message);
    return run('rev-parse', 'HEAD');
  };
  return {
    dir,
    head: commit(files, 'product sources'),
    commit,
    tag: (name) => void run('tag', '-a', '-m', name, name),
  };
}

/**
 * The images.yaml entries of the product's two images, as the project declares its own (the UI at
 * the product's version, the operator at upstream's `latest`). The UI's
 * base is `docker.io/library/nginx:<nginx>`: tests running side by side give each their own tag,
 * since podman keeps one image store for them all.
 */
export function productImageDeclarations(builderBase: string, nginx: string): string {
  return [
    `  - {name: metalk8s-ui, version: "@@VERSION", definition: "product:ui/Dockerfile", build_args: {NGINX_IMAGE_VERSION: "${nginx}"}}`,
    '  - name: storage-operator',
    '    version: latest',
    '    definition: product:storage-operator/build/Dockerfile',
    '    context: product:storage-operator',
    '    compile:',
    '      builder: product:storage-operator/Dockerfile',
    `      from: ${builderBase}`,
    '      command: [/bin/busybox, sh, -c, "mkdir -p build/_output/bin && cp cmd/manager/main.sh build/_output/bin/storage-operator"]',
    '      output: build/_output',
    '',
  ].join('\n');
}

/**
 * A local image `tag` holding busybox, built with podman in `work`: the base the operator's
 * builder image gets instead of golang (which cannot be pulled here), so that its compile step
 * runs a shell.
 */
export function buildBusyboxBase(work: string, tag: string): string {
  copyFileSync(requireExecutable('busybox'), join(work, 'busybox'));
  writeFileSync(join(work, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\n');
  execFileSync(requireExecutable('podman'), ['build', '--quiet', '--tag', tag, work], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return tag;
}
