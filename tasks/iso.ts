// iso: the MetalK8s ISO from the ISO tree (BUILD_ROOT/root), and its SHA256SUM.
// populate_iso gathers every family that puts files in the tree; _iso_build is created once it
// has run, with every file of the tree as file_dep (upstream's create_after). The writer hashes
// the image as it writes it and leaves the digest beside it (<iso>.sha256): SHA256SUM is made
// from that, so no task reads a multi-gigabyte ISO again.
import { BuildError, errorMessage } from '../buildchain/errors.ts';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { buildTimestamp } from '../buildchain/timestamp.ts';
import type { BuildConfig } from './config.ts';
import { normalizePath } from '../buildchain/engine/graph.ts';
import type { TaskDefinition, TaskSpec } from '../buildchain/engine/task.ts';
import { IN_TOTO_PAYLOAD_TYPE, signEnvelope } from '../buildchain/release/dsse.ts';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { removeUnkept } from '../buildchain/fs/prune.ts';
import { listFiles } from '../buildchain/fs/walk.ts';
import { writeIso } from '../buildchain/iso9660/writer.ts';
import { gpgSigner, signDetached } from '../buildchain/release/openpgp.ts';
import { projectRoot } from '../buildchain/paths.ts';
import { provenanceStatement } from '../buildchain/release/provenance.ts';
import {
  fetchRuntime,
  loadRuntimeDeclaration,
  runtimeTarget,
  unpackRuntime,
} from '../buildchain/sources/npm-runtime.ts';
import { bundleStandalone } from '../buildchain/launch/standalone-bundle.ts';
import { fileTreeTasks } from '../buildchain/engine/file-tasks.ts';
import type { BuildContext } from './context.ts';

/**
 * product.txt at the ISO root, upstream's keys in `KEY=value` lines: what the node-side scripts
 * and operators read to know which MetalK8s an ISO holds. VERSION, SHORT_VERSION, GIT and
 * DEVELOPMENT_RELEASE are the product's (its source's VERSION and `git describe`); with a product
 * source, the build chain's own version and revision go under keys of their own, which no
 * upstream reader knows. BUILD_TIMESTAMP is SOURCE_DATE_EPOCH when set; otherwise the time of
 * the build that wrote it, kept until another value changes (a build with nothing changed leaves
 * it, and the ISO, alone). Created after _product_source: the values are read when it is.
 */
function productTask({ config, documentation }: BuildContext): TaskSpec {
  const target = join(config.isoRoot, 'product.txt');
  const { version, git } = config.productVersion();
  const values = {
    NAME: config.projectName,
    VERSION: version.full,
    SHORT_VERSION: version.short,
    GIT: git,
    // Upstream's rule: only a `-dev` suffix makes a development release.
    DEVELOPMENT_RELEASE: version.suffix === '-dev' ? '1' : '0',
    // Ours: what the Salt tree and the product's images come from, and what built them.
    ...(config.product
      ? {
          PRODUCT_SOURCE: `${config.product.url}@${config.product.commit}`,
          BUILDCHAIN_VERSION: config.version.full,
          BUILDCHAIN_GIT: config.gitRef() ?? '',
        }
      : {
          PRODUCT_SOURCE: 'none (the stand-in salt-tree/, no UI or operator image: this ISO does not install MetalK8s)',
        }),
    // Ours: what documentation/ holds, the PDF or (without LaTeX) Sphinx' HTML tree.
    DOCUMENTATION: documentation().note,
  };
  return {
    name: '_iso_add_tree:product.txt',
    task_dep: ['_iso_mkdir_root'],
    file_dep: [...new Set([config.versionFile, config.productVersionFile])],
    targets: [target],
    uptodate: [values, config.buildHost, config.sourceDateEpoch ?? null],
    actions: [
      async () => {
        const lines = Object.entries({
          ...values,
          BUILD_TIMESTAMP: buildTimestamp(config.sourceDateEpoch),
          BUILD_HOST: config.buildHost,
        }).map(([key, value]) => `${key}=${value}`);
        await writeFileAtomic(target, `${lines.join('\n')}\n`);
      },
    ],
    clean: true,
  };
}

/**
 * metalk8s-agent.cjs at the ISO root: the node-side agent (agent/) in one file with its npm
 * packages, which the scripts beside it run. The agent is part of this build chain, not of the
 * data it builds from: its sources are the build chain's own, every one the agent may import.
 */
function agentTask(config: BuildConfig): TaskSpec {
  const target = join(config.isoRoot, 'metalk8s-agent.cjs');
  const code = projectRoot();
  const sources = ['agent', 'buildchain', 'static-registry'].flatMap((dir) =>
    listFiles(join(code, dir))
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
      .map((file) => join(code, dir, file)),
  );
  return {
    name: '_iso_add_tree:metalk8s-agent.cjs',
    task_dep: ['_iso_mkdir_root'],
    file_dep: [...sources, join(code, 'package-lock.json'), config.runtimeFile, config.versionFile],
    targets: [target],
    actions: [
      async (ctx) => {
        // For the runtime the ISO ships beside it: no language feature or API newer than it.
        const runtimeTargeted = runtimeTarget(loadRuntimeDeclaration(config.runtimeFile));
        const { bytes } = await bundleStandalone(join(code, 'agent/main.ts'), target, {
          root: code,
          target: runtimeTargeted,
          define: { 'process.env.METALK8S_AGENT_VERSION': JSON.stringify(config.version.full) },
        });
        ctx.log(`${bytes} bytes`);
      },
    ],
    clean: true,
  };
}

/**
 * runtime/node and runtime/LICENSE at the ISO root: the JavaScript runtime the scripts run the
 * agent with on CentOS/RHEL 7 nodes (RUNTIME_FILE), fetched into the store through NPM_REGISTRY
 * unless it is there, and unpacked from it.
 */
function runtimeTask({ config, store }: BuildContext): TaskSpec {
  const dir = join(config.isoRoot, 'runtime');
  return {
    name: '_iso_add_tree:runtime',
    task_dep: ['_iso_mkdir_root'],
    file_dep: [config.runtimeFile],
    targets: [join(dir, 'node'), join(dir, 'LICENSE')],
    // The declaration pins the tarball by digest: its unpacked files are shared as they are.
    cache: true,
    actions: [
      async (ctx) => {
        const runtime = loadRuntimeDeclaration(config.runtimeFile);
        const fetched = await fetchRuntime(store, runtime, config.npmRegistry, ctx.signal).catch((error: unknown) => {
          if (ctx.signal.aborted) throw error;
          throw new BuildError(
            `${errorMessage(error)}\npoint NPM_REGISTRY in .env at a registry or mirror serving it`,
            ['NPM_REGISTRY=<npm registry URL>'],
          );
        });
        await unpackRuntime(store, runtime, dir);
        ctx.log(`${runtime.name} ${runtime.version}${fetched > 0 ? `, ${fetched} bytes fetched` : ', from the store'}`);
      },
    ],
    clean: true,
  };
}

/**
 * Whether a path of the ISO tree (relative to it) is a declared target, or lies under a declared
 * directory target; the tree's own root, declared by _iso_mkdir_root, does not count.
 */
function declaredUnder(root: string, isoRoot: string, targets: readonly string[]): (file: string) => boolean {
  const prefix = `${normalizePath(root, isoRoot)}/`;
  const declared = targets.filter((target) => target.startsWith(prefix)).map((target) => target.slice(prefix.length));
  const exact = new Set(declared);
  return (file) => exact.has(file) || declared.some((dir) => file.startsWith(`${dir}/`));
}

export function isoTasks(context: BuildContext): TaskDefinition[] {
  const { config, paths } = context;
  const iso = paths.iso;
  const digest = `${iso}.sha256`;
  const checksums = join(config.buildRoot, 'SHA256SUM');
  return [
    {
      name: 'iso',
      doc: `Build the ${config.projectName} ISO, its SHA256SUM and its provenance.`,
      task_dep: ['_iso_build', '_iso_digest', '_iso_provenance'],
    },
    {
      name: '_iso_provenance',
      doc: `Write ${basename(iso)}.provenance.json: an in-toto statement (SLSA provenance) of the ISO, its parameters and inputs; signed in ${basename(iso)}.intoto.jsonl with GPG_KEY.`,
      task_dep: ['_iso_build'],
      file_dep: [digest, paths.sbom],
      // With GPG_KEY, the statement signed too: a DSSE envelope in <iso>.intoto.jsonl.
      targets: [`${iso}.provenance.json`, ...(config.gpgKey ? [`${iso}.intoto.jsonl`] : [])],
      // The ISO's digest changes with anything the statement says (product.txt holds GIT and BUILD_HOST).
      uptodate: [config.gpgKey ?? null, config.sourceDateEpoch ?? null],
      actions: [
        async (ctx) => {
          const [isoSha256] = (await readFile(digest, 'utf8')).split(/\s/);
          const sbom = JSON.parse(await readFile(paths.sbom, 'utf8')) as {
            packages: Parameters<typeof provenanceStatement>[0]['sbomPackages'];
          };
          const statement = provenanceStatement({
            isoName: basename(iso),
            isoSha256: isoSha256!,
            sourceRevision: config.gitRef(),
            sbomPackages: sbom.packages,
            builderId: `metalk8s-buildchain ${config.version.full}`,
            parameters: {
              PROJECT_NAME: config.projectName,
              VERSION: config.productVersion().version.full,
              SOURCE_DATE_EPOCH: config.sourceDateEpoch ?? null,
              BUILD_HOST: config.buildHost,
              IMAGES_FILE: relative(config.root, config.imagesFile),
              PACKAGES_FILE: relative(config.root, config.packagesFile),
              METALK8S_SOURCE: config.product?.url ?? 'none',
              METALK8S_COMMIT: config.product?.commit ?? null,
            },
          });
          const text = `${JSON.stringify(statement, null, 2)}\n`;
          await writeFileAtomic(`${iso}.provenance.json`, text);
          const signer = gpgSigner(config, ctx.signal);
          if (signer) {
            const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(text), signer);
            await writeFileAtomic(`${iso}.intoto.jsonl`, `${JSON.stringify(envelope)}\n`);
          }
        },
      ],
      clean: true,
    },
    {
      name: 'populate_iso',
      doc: 'Populate the ISO tree (BUILD_ROOT/root).',
      task_dep: [
        '_iso_mkdir_root',
        '_product_source',
        '_iso_add_tree',
        'salt_tree',
        'images',
        'packaging',
        'documentation',
        '_iso_sbom',
      ],
    },
    {
      basename: '_iso_add_tree',
      doc: 'Deploy the files of the ISO root: product.txt, the scripts (scripts/), the agent they run and its runtime, the examples (examples/).',
      // Listed lazily, as salt_tree; with a product source, once it is unpacked (its version fills product.txt and the templates).
      after: config.product ? ['_product_source'] : [],
      create: () => [
        productTask(context),
        agentTask(config),
        runtimeTask(context),
        ...fileTreeTasks({
          basename: '_iso_add_tree',
          source: join(config.root, 'scripts'),
          destination: config.isoRoot,
          task_dep: ['_iso_mkdir_root'],
          values: config.templateValues(),
        }),
        ...fileTreeTasks({
          basename: '_iso_add_tree',
          source: join(config.root, 'examples'),
          destination: join(config.isoRoot, 'examples'),
          namePrefix: 'examples',
          task_dep: ['_iso_mkdir_root'],
          values: config.templateValues(),
        }),
      ],
    },
    {
      name: '_iso_mkdir_root',
      doc: 'Create the ISO tree.',
      targets: [config.isoRoot],
      uptodate: [true],
      task_dep: ['_build_root'],
      actions: [async () => void (await mkdir(config.isoRoot, { recursive: true }))],
      clean: true,
    },
    {
      basename: '_iso_build',
      doc: `Write ${basename(iso)} from the ISO tree, after removing what no task declares.`,
      after: ['populate_iso'],
      create: (graph) => {
        const volumeId = `${config.projectName} ${config.productVersion().version.full}`;
        const isDeclared = declaredUnder(config.root, config.isoRoot, graph.declaredTargets());
        const files = listFiles(config.isoRoot);
        // The ISO holds exactly what tasks declare: a file left by an earlier build (its source
        // since deleted or renamed) is removed before the image is written.
        const stale = files.filter((file) => !isDeclared(file));
        const prune: TaskSpec[] =
          stale.length === 0
            ? []
            : [
                {
                  name: '_iso_build:prune',
                  title: `_iso_build: remove ${stale.length} file(s) no task declares`,
                  actions: [
                    (ctx) => {
                      for (const file of removeUnkept(config.isoRoot, isDeclared)) ctx.log(`removed ${file}`);
                    },
                  ],
                },
              ];
        return [
          ...prune,
          {
            name: '_iso_build:image',
            title: `_iso_build: ${basename(iso)}`,
            task_dep: prune.map((task) => task.name),
            file_dep: files.filter(isDeclared).map((file) => join(config.isoRoot, file)),
            targets: [iso, digest],
            uptodate: [volumeId, config.sourceDateEpoch ?? null],
            actions: [
              async (ctx) => {
                const { sha256 } = await writeIso(config.isoRoot, iso, {
                  volumeId,
                  signal: ctx.signal,
                  onProgress: (written, total) => ctx.progress(written, total),
                  ...(config.sourceDateEpoch !== undefined ? { sourceDateEpoch: config.sourceDateEpoch } : {}),
                });
                await writeFileAtomic(digest, `${sha256}  ${basename(iso)}\n`);
              },
            ],
            clean: true,
          },
        ];
      },
    },
    {
      name: '_iso_digest',
      doc: 'Write BUILD_ROOT/SHA256SUM of the ISO (from the digest computed while writing it), and SHA256SUM.asc with GPG_KEY.',
      // Explicit: the digest's producer is created later (_iso_build), so no implicit edge exists yet.
      task_dep: ['_iso_build'],
      file_dep: [digest],
      // With GPG_KEY, SHA256SUM.asc too: the release's signature, over the file that names the ISO's digest.
      targets: [checksums, ...(config.gpgKey ? [`${checksums}.asc`] : [])],
      uptodate: [config.gpgKey ?? null, config.sourceDateEpoch ?? null],
      actions: [
        async (ctx) => {
          await writeFileAtomic(checksums, await readFile(digest, 'utf8'));
          const signer = gpgSigner(config, ctx.signal);
          if (signer) await signDetached(checksums, signer);
        },
      ],
      clean: true,
    },
  ];
}
