// The demo's inputs, generated on this machine and served on 127.0.0.1 by the servers the tests
// use: container images under MetalK8s' own names and versions (images/images.yaml) in
// docker-registry, a yum repository of MetalK8s' package names (packages-rpm/packages.yaml) and
// their generated dependencies, a spec source and the agent's runtime tarball behind nginx, and a
// product source (a git repository with the Salt states the ISO's scripts call). A project beside
// them declares it all, with its own .env and BUILD_ROOT. Sized: `small` for a first run, `metalk8s`
// at MetalK8s 2.4's scale (26 images, about 2 GB pulled, 600 packages) for bench/full. One image is
// also served in a second version, for bench/full's rebuild after one image's digest changes.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../buildchain/paths.ts';
import { loadImageDeclarations, type RemoteImage } from '../buildchain/oci/declarations.ts';
import { parseJsonText } from '../buildchain/json-file.ts';
import { loadPackageDeclarations } from '../buildchain/rpm/declarations.ts';
import { shellSaltCalls } from '../buildchain/salt/calls.ts';
import { requireExecutable } from '../buildchain/tools.ts';
import { AGENT_SALT_CALLS } from '../agent/salt.ts';
import { imageOf, randomLayer, writeOciLayout, type Blob } from '../test/oci-fixtures.ts';
import {
  PRODUCT_CHART,
  PRODUCT_FILES,
  buildBusyboxBase,
  productImageDeclarations,
  productRepository,
} from '../test/product-source.ts';
import { buildTestRpms, createRepo, type TestRpm } from '../test/rpm-fixtures.ts';
import { declaredRuntime, RUNTIME_CACHE } from '../test/runtime-cache.ts';
import { freePort, startDockerRegistry, startNginxServer, type LocalServer } from '../test/servers.ts';

export interface DemoSize {
  images: number;
  /** Layers shared among the images (each image has two of them and one of its own). */
  sharedLayers: number;
  layerBytes: number;
  packages: number;
  packageBytes: number;
  /** metalk8s-ui and storage-operator, built from the product source with podman. */
  productImages: boolean;
}

export const SIZES: Record<string, DemoSize> = {
  small: { images: 8, sharedLayers: 3, layerBytes: 2 << 20, packages: 40, packageBytes: 20_000, productImages: true },
  metalk8s: {
    images: 26,
    sharedLayers: 8,
    layerBytes: 32 << 20,
    packages: 600,
    packageBytes: 150_000,
    productImages: false,
  },
};

/** What was generated: kept in inputs.json, so that a second demo reuses it (and its ports). */
export interface DemoInputs {
  /** Of the generator: inputs of another format are made again. */
  format: number;
  size: string;
  ports: { registry: number; nginx: number };
  images: number;
  pulledBytes: number;
  /** Bytes of the distinct blobs and package files: what a cold build fetches at least. */
  uniqueBytes: number;
  packages: number;
  commit: string;
  /**
   * The image the registry also holds in a second version (another own layer, so another config
   * and manifest, under the tag `<version>-second`): bench/full's rebuild after one image's digest
   * changes. `digests` are the first version's (declared in images.yaml) and the second's.
   */
  second: { image: string; digests: [string, string] };
}

export interface Demo {
  project: string;
  buildRoot: string;
  /** The product's git repository (METALK8S_SOURCE): a local directory. */
  productSource: string;
  inputs: DemoInputs;
  /** Every URL a cold build fetches, for the floor of bench/full (curl of the unique bytes). */
  fetchList: string;
  /** The URLs of the second version of `inputs.second.image` that its first lacks (config, own layer, manifest). */
  secondFetchList: string;
  /** Declares `inputs.second.image` at its first or its second version's digest in the project's images.yaml. */
  useVersion(version: 0 | 1): void;
  stop(): Promise<void>;
}

const root = projectRoot();
const FORMAT = 5;
/** The busybox image the demo's operator compiles in (podman's local store). */
const BUILDER_BASE = 'localhost/metalk8s-demo-busybox:1';

/** Starts the servers on `work`'s inputs, generating them first unless they are there for `size`. */
export async function prepareDemo(work: string, size: string, log: (line: string) => void): Promise<Demo> {
  const spec = SIZES[size];
  if (!spec) throw new Error(`unknown demo size '${size}' (sizes: ${Object.keys(SIZES).join(', ')})`);
  const stamp = join(work, 'inputs.json');
  const previous = existsSync(stamp)
    ? parseJsonText<DemoInputs>(readFileSync(stamp, 'utf8'), stamp, 'the demo inputs')
    : undefined;
  const reuse = previous?.format === FORMAT && previous.size === size && existsSync(join(work, 'project', '.env'));
  if (!reuse) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
  }
  const ports = reuse ? previous!.ports : { registry: await freePort(), nginx: await freePort() };
  if (spec.productImages) {
    mkdirSync(join(work, 'busybox'), { recursive: true });
    buildBusyboxBase(join(work, 'busybox'), BUILDER_BASE);
  }
  mkdirSync(join(work, 'registry'), { recursive: true });
  mkdirSync(join(work, 'www'), { recursive: true });
  mkdirSync(join(work, 'nginx'), { recursive: true });
  const registry = await startDockerRegistry(join(work, 'registry'), { port: await usable(ports.registry) });
  const nginx = await startNginxServer(join(work, 'nginx'), `root ${join(work, 'www')};`, {
    port: await usable(ports.nginx),
  }).catch(async (error: unknown) => {
    await registry.stop();
    throw error;
  });
  const stop = async () => {
    await Promise.all([registry.stop(), nginx.stop()]);
  };
  try {
    const inputs = reuse
      ? { ...previous!, ports: { registry: registry.port, nginx: nginx.port } }
      : await generate(work, size, spec, registry, nginx, log);
    writeFileSync(stamp, `${JSON.stringify(inputs, null, 2)}\n`);
    // The servers' addresses go into .env; rewritten only when a port changed (a no-op stays one).
    writeIfChanged(join(work, 'project', '.env'), dotenv(work, inputs, registry, nginx, spec));
    const imagesFile = join(work, 'project', 'images', 'images.yaml');
    return {
      project: join(work, 'project'),
      buildRoot: join(work, 'build'),
      productSource: join(work, 'product'),
      inputs,
      fetchList: join(work, 'fetch-list.txt'),
      secondFetchList: join(work, 'second-fetch-list.txt'),
      useVersion: (version) => {
        const [from, to] = version === 1 ? inputs.second.digests : [...inputs.second.digests].reverse();
        const text = readFileSync(imagesFile, 'utf8');
        if (!text.includes(`"${from!}"`) && !text.includes(`"${to!}"`))
          throw new Error(`${imagesFile}: ${inputs.second.image} is declared at neither of its digests`);
        writeIfChanged(imagesFile, text.replace(`"${from!}"`, `"${to!}"`));
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The port if it is free now, else another. */
async function usable(port: number): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const server = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  return free ? port : freePort();
}

function writeIfChanged(file: string, text: string): void {
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
}

function dotenv(work: string, inputs: DemoInputs, registry: LocalServer, nginx: LocalServer, spec: DemoSize): string {
  const mirrors = ['docker.io', 'quay.io', 'k8s.gcr.io'].map((name) => `${name}=${registry.host}`).join(',');
  return [
    '# Written by npm run demo: every source is a server of the demo on 127.0.0.1.',
    `BUILD_ROOT=${join(work, 'build')}`,
    `METALK8S_SOURCE=${join(work, 'product')}`,
    `METALK8S_COMMIT=${inputs.commit}`,
    `REGISTRY_MIRRORS=${mirrors}`,
    `YUM_MIRROR_DEMO=http://${nginx.host}/repo`,
    `SOURCES_MIRROR=http://${nginx.host}/sources`,
    `NPM_REGISTRY=http://${nginx.host}/npm`,
    ...(spec.productImages ? [`DOCKER_BIN=${requireExecutable('podman')}`] : []),
    'SOURCE_DATE_EPOCH=1600000000',
    'BUILD_HOST=demo',
    '',
  ].join('\n');
}

async function generate(
  work: string,
  size: string,
  spec: DemoSize,
  registry: LocalServer,
  nginx: LocalServer,
  log: (line: string) => void,
): Promise<DemoInputs> {
  const project = join(work, 'project');
  const write = (file: string, text: string) => {
    mkdirSync(join(project, file, '..'), { recursive: true });
    writeFileSync(join(project, file), text);
  };
  const fetchList: string[] = [];
  const secondFetchList: string[] = [];
  log(
    `generating ${spec.images} images (${spec.sharedLayers} shared layers of ${spec.layerBytes >> 20} MiB) into docker-registry at ${registry.host}`,
  );
  const images = await pushImages(
    work,
    spec,
    registry,
    (url) => fetchList.push(url),
    (url) => secondFetchList.push(url),
  );
  log(`generating ${spec.packages} packages into a yum repository served by nginx at ${nginx.host}`);
  const packages = await writeRepository(work, spec, nginx, (url) => fetchList.push(url));
  const commit = demoProductSource(join(work, 'product'));

  // The project: MetalK8s' scripts, examples and runtime pin; generated declarations.
  write('VERSION', readFileSync(join(root, 'VERSION'), 'utf8'));
  write('tasks.ts', `export { project } from ${JSON.stringify(join(root, 'tasks/index.ts'))};\n`);
  for (const folder of ['scripts', 'examples']) cpSync(join(root, folder), join(project, folder), { recursive: true });
  write('runtime/node.yaml', readFileSync(join(root, 'runtime/node.yaml'), 'utf8'));
  write(
    'images/images.yaml',
    `${images.declarations}local:${spec.productImages ? `\n${productImageDeclarations(BUILDER_BASE, '1.15.8')}` : ' []\n'}`,
  );
  write('packages-rpm/packages.yaml', packages.declarations);
  for (const file of [
    'metalk8s-sosreport.spec',
    'metalk8s-sosreport/metalk8s.py',
    'metalk8s-sosreport/containerd.py',
  ]) {
    write(`packages-rpm/${file}`, readFileSync(join(root, 'packages-rpm', file), 'utf8'));
  }
  write('packages-rpm/demo-notes.spec', DEMO_SPEC);

  // The agent's runtime, as an npm registry serves it.
  const runtime = declaredRuntime();
  const tarball = join(RUNTIME_CACHE, `${runtime.name}-${runtime.version}.tgz`);
  if (!existsSync(tarball))
    throw new Error(
      `${tarball} is missing: npm run fetch:runtime gets it (the demo serves it to the build as an npm registry would)`,
    );
  mkdirSync(join(work, 'www', 'npm', runtime.name, '-'), { recursive: true });
  copyFileSync(tarball, join(work, 'www', 'npm', runtime.name, '-', `${runtime.name}-${runtime.version}.tgz`));
  fetchList.push(`http://${nginx.host}/npm/${runtime.name}/-/${runtime.name}-${runtime.version}.tgz`);
  writeFileSync(join(work, 'fetch-list.txt'), `${fetchList.join('\n')}\n`);
  writeFileSync(join(work, 'second-fetch-list.txt'), `${secondFetchList.join('\n')}\n`);
  return {
    format: FORMAT,
    size,
    ports: { registry: registry.port, nginx: nginx.port },
    images: spec.images,
    pulledBytes: images.pulledBytes,
    uniqueBytes: images.uniqueBytes + packages.bytes,
    packages: packages.count,
    commit,
    second: images.second,
  };
}

/**
 * MetalK8s' remote images by name, version and registry (then demo-extra-<n> beyond its 21),
 * each of two shared layers and one of its own, pushed with skopeo under the repository and tag
 * REGISTRY_MIRRORS sends the build to. The last image declared by digest and not archived is
 * pushed a second time with another own layer (tag `<version>-second`), for a rebuild after one
 * image's digest changes: `secondFetched` gets the URLs of what that version adds.
 */
async function pushImages(
  work: string,
  spec: DemoSize,
  registry: LocalServer,
  fetched: (url: string) => void,
  secondFetched: (url: string) => void,
) {
  const skopeo = requireExecutable('skopeo');
  // Archived ones first (pause, and nginx, the UI's base), then those declared by tag only
  // (prometheus, which the product's chart names): every size has them.
  const rank = (image: RemoteImage) => (image.archive !== false ? 0 : image.pin === 'declared' ? 2 : 1);
  const real = loadImageDeclarations(join(root, 'images/images.yaml')).remote.sort((a, b) => rank(a) - rank(b));
  const shared: Blob[] = [];
  for (let i = 0; i < spec.sharedLayers; i += 1) shared.push(await randomLayer(`shared${i}`, spec.layerBytes));
  type Model = Pick<RemoteImage, 'name' | 'version' | 'archive' | 'pin'> & { registry: string; repository: string };
  const push = async (model: Model, index: number, tag: string, label: string) => {
    const layers = [
      shared[index % spec.sharedLayers]!,
      shared[(index + 1) % spec.sharedLayers]!,
      await randomLayer(label, spec.layerBytes / 2),
    ];
    const image = imageOf(layers, 'amd64', label);
    const layout = join(work, 'oci', label);
    writeOciLayout(layout, image.manifest, [image.config, ...layers]);
    execFileSync(skopeo, [
      '--insecure-policy',
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${layout}:latest`,
      `docker://${registry.host}/${model.repository}:${tag}`,
    ]);
    rmSync(layout, { recursive: true });
    return { image, layers };
  };
  const unique = new Map<string, number>();
  let pulledBytes = 0;
  let second: { model: Model; index: number; digest: string } | undefined;
  const lines = ['platform: linux/amd64', 'remote:'];
  for (let i = 0; i < spec.images; i += 1) {
    const model: Model = real[i]
      ? { ...real[i]!, registry: real[i]!.source.registry, repository: real[i]!.source.repository }
      : {
          name: `demo-extra-${i}`,
          version: '1.0',
          archive: false,
          pin: 'declared',
          registry: 'quay.io',
          repository: `demo/extra-${i}`,
        };
    const { image, layers } = await push(model, i, model.version, model.name);
    for (const blob of [image.config, ...layers]) {
      pulledBytes += blob.bytes.length;
      if (!unique.has(blob.digest)) fetched(`http://${registry.host}/v2/${model.repository}/blobs/${blob.digest}`);
      unique.set(blob.digest, blob.bytes.length);
    }
    fetched(`http://${registry.host}/v2/${model.repository}/manifests/${image.manifest.digest}`);
    const archive = model.archive === false ? '' : `, archive: ${model.archive === 'images' ? 'true' : model.archive}`;
    // Declared by tag where MetalK8s' images.yaml does: the build records its digest in the lock.
    const digest = model.pin === 'declared' ? `, digest: "${image.manifest.digest}"` : '';
    if (model.pin === 'declared' && model.archive === false)
      second = { model, index: i, digest: image.manifest.digest };
    lines.push(
      `  - {name: ${model.name}, image: ${model.registry}/${model.repository}, version: "${model.version}"${digest}${archive}}`,
    );
  }
  if (!second) throw new Error(`no image of size ${spec.images} is declared by digest and not archived`);
  const { model, index } = second;
  const other = await push(model, index, `${model.version}-second`, `${model.name}-second`);
  for (const blob of [other.image.config, other.layers[2]!])
    secondFetched(`http://${registry.host}/v2/${model.repository}/blobs/${blob.digest}`);
  secondFetched(`http://${registry.host}/v2/${model.repository}/manifests/${other.image.manifest.digest}`);
  rmSync(join(work, 'oci'), { recursive: true, force: true });
  return {
    declarations: `${lines.join('\n')}\n`,
    pulledBytes,
    uniqueBytes: [...unique.values()].reduce((a, b) => a + b, 0),
    second: { image: model.name, digests: [second.digest, other.image.manifest.digest] as [string, string] },
  };
}

/**
 * MetalK8s' requested package names (pinned ones at their versions), each requiring two of the
 * generated libraries that make up the rest of the count, built with rpmbuild into one yum
 * repository; and the demo spec's source file.
 */
async function writeRepository(work: string, spec: DemoSize, nginx: LocalServer, fetched: (url: string) => void) {
  const requested = loadPackageDeclarations(join(root, 'packages-rpm/packages.yaml')).requests;
  const libraries = Math.max(spec.packages - requested.length, 2);
  const rpms: TestRpm[] = [
    ...requested.map(
      (request, i): TestRpm => ({
        name: request.name,
        version: request.version ?? '1.0',
        arch: 'noarch',
        payloadBytes: spec.packageBytes,
        requires: [`demo-lib${i % libraries}`, `demo-lib${(i * 7 + 1) % libraries}`],
      }),
    ),
    ...Array.from(
      { length: libraries },
      (_, i): TestRpm => ({ name: `demo-lib${i}`, version: '1.0', arch: 'noarch', payloadBytes: spec.packageBytes }),
    ),
  ];
  const repo = join(work, 'www', 'repo');
  const files = await buildTestRpms(join(work, 'rpmbuild'), repo, rpms);
  await createRepo(repo);
  rmSync(join(work, 'rpmbuild'), { recursive: true, force: true });
  let bytes = 0;
  for (const file of files) {
    bytes += readFileSync(join(repo, file)).length;
    fetched(`http://${nginx.host}/repo/${file}`);
  }
  const notes = 'MetalK8s demo: built from a spec whose source nginx serves.\n';
  mkdirSync(join(work, 'www', 'sources'), { recursive: true });
  writeFileSync(join(work, 'www', 'sources', 'demo-notes.txt'), notes);
  const sha256 = createHash('sha256').update(notes).digest('hex');
  const declarations = [
    'repositories:',
    '  - {name: demo, baseurl: "https://mirror.example.invalid/demo/7/x86_64"}',
    'packages:',
    ...requested.map(
      (request) => `  - {name: ${request.name}${request.version ? `, version: "${request.version}"` : ''}}`,
    ),
    'build:',
    '  - {name: metalk8s-sosreport, version: "2.4", release: "1", spec: metalk8s-sosreport.spec, sources: [{file: metalk8s-sosreport/metalk8s.py}, {file: metalk8s-sosreport/containerd.py}]}',
    `  - {name: demo-notes, version: "1.0", release: "1", spec: demo-notes.spec, sources: [{url: "https://sources.example.invalid/demo-notes.txt", sha256: "${sha256}"}]}`,
    '',
  ].join('\n');
  return { declarations, count: rpms.length, bytes };
}

const DEMO_SPEC = [
  'Name: demo-notes',
  'Version: 1.0',
  'Release: 1%{?dist}',
  'Summary: notes of the MetalK8s demo',
  'License: MIT',
  'BuildArch: noarch',
  'Source0: demo-notes.txt',
  '',
  '%description',
  'Notes of the MetalK8s demo.',
  '',
  '%install',
  'install -D -m 644 %{SOURCE0} %{buildroot}/usr/share/doc/demo-notes/notes.txt',
  '',
  '%files',
  '/usr/share/doc/demo-notes',
  '',
].join('\n');

/**
 * MetalK8s' shape (test/product-source.ts) with a state for every state the ISO's scripts and
 * agent call, and the custom functions they call, so that the build's check passes as it does on
 * MetalK8s' own tree. Answers its commit.
 */
function demoProductSource(dir: string): string {
  const files = new Map<string, string>(
    Object.entries({
      ...PRODUCT_FILES,
      ...PRODUCT_CHART,
      'salt/_runners/metalk8s_saltutil.py': 'def sync_auth(saltenv="base"):\n    return True\n',
      'salt/_states/metalk8s_kubernetes.py':
        'def namespace_annotation_present(name, annotation_key, annotation_value, **kwargs):\n    return {"name": name, "result": True, "changes": {}, "comment": ""}\n',
    }),
  );
  const scripts = join(root, 'scripts');
  const calls = [
    ...readdirSync(scripts).flatMap((file) => shellSaltCalls(readFileSync(join(scripts, file), 'utf8'), file)),
    ...AGENT_SALT_CALLS,
  ];
  for (const call of calls.filter((entry) => entry.kind === 'state')) {
    for (const name of call.name.includes('$1')
      ? ['upgrade', 'downgrade'].map((verb) => call.name.replace('$1', verb))
      : [call.name]) {
      files.set(
        `salt/${name.replace(/\./g, '/')}.sls`,
        `# ${name}: a state of the demo's product source\ninclude: []\n`,
      );
    }
  }
  // A name that is also a folder (metalk8s.orchestrate.bootstrap and .bootstrap.accept-minion): init.sls.
  for (const path of [...files.keys()]) {
    const folder = path.slice(0, -'.sls'.length);
    if (path.endsWith('.sls') && [...files.keys()].some((other) => other.startsWith(`${folder}/`))) {
      files.set(`${folder}/init.sls`, files.get(path)!);
      files.delete(path);
    }
  }
  mkdirSync(dir, { recursive: true });
  return productRepository(dir, Object.fromEntries(files)).head;
}
