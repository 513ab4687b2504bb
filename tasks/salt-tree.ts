// salt_tree: the Salt formula and pillar shipped in the ISO (BUILD_ROOT/root/salt and pillar).
// With a product source, upstream's own salt/ and pillar/ at the pinned commit, deployed as
// upstream's buildchain deploys them: every file, `*.in` rendered (@@VERSION, and the storage
// operator's manifests for its states), and salt/metalk8s/versions.json generated from our image
// and package declarations. With METALK8S_SOURCE=none, our stand-in salt-tree/ (tests, demos).
// Two checks of the deployed tree: the scripts' Salt calls, and the images the formula names.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { AGENT_SALT_CALLS } from '../agent/salt.ts';
import type { BuildConfig } from './config.ts';
import type { DelayedTasks, TaskSpec } from '../buildchain/engine/task.ts';
import { BuildError } from '../buildchain/errors.ts';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { listFiles } from '../buildchain/fs/walk.ts';
import { projectRoot } from '../buildchain/paths.ts';
import { describeSaltCall, missingSaltCalls, shellSaltCalls, type SaltCall } from '../buildchain/salt/calls.ts';
import {
  SCANNED_FILE,
  missingImages,
  namedImages,
  readFormulaFile,
  type IsoImages,
} from '../buildchain/salt/images.ts';
import { DIST } from '../buildchain/rpm/rpmbuild.ts';
import { readLock } from '../buildchain/rpm/lock.ts';
import { fileTreeTasks } from '../buildchain/engine/file-tasks.ts';
import type { BuildContext } from './context.ts';

/** The storage operator's manifests that upstream's `.in` states include, by placeholder. */
const OPERATOR_MANIFESTS: Readonly<Record<string, string>> = {
  ServiceAccount: 'storage-operator/deploy/service_account.yaml',
  Role: 'storage-operator/deploy/role.yaml',
  RoleBinding: 'storage-operator/deploy/role_binding.yaml',
  Deployment: 'storage-operator/deploy/operator.yaml',
  CustomResourceDefinition: 'storage-operator/deploy/crds/storage_v1alpha1_volume_crd.yaml',
};

export function saltTreeTasks(context: BuildContext): DelayedTasks[] {
  const { config } = context;
  const tree = config.product?.tree;
  return [
    {
      basename: 'salt_tree',
      doc: tree
        ? "Deploy the product's Salt formula and pillar in the ISO tree (BUILD_ROOT/root/salt, pillar)."
        : 'Deploy the Salt tree in the ISO tree (BUILD_ROOT/root/salt): salt-tree/, METALK8S_SOURCE being none.',
      // Listed lazily: only builds that need the Salt tree walk it, once the product is unpacked.
      after: tree ? ['_product_source'] : [],
      create: () => {
        const deployed = tree
          ? productSaltTasks(context, tree)
          : fileTreeTasks({
              basename: 'salt_tree',
              source: join(config.root, 'salt-tree'),
              destination: join(config.isoRoot, 'salt'),
              task_dep: ['_build_root'],
              values: config.templateValues(),
            });
        return [
          ...deployed,
          callsCheckTask(config, tree ? join(tree, 'salt') : join(config.root, 'salt-tree')),
          imagesCheckTask(context, deployed),
        ];
      },
    },
  ];
}

/**
 * Every image the deployed formula names must be in the ISO: served by its registry (as
 * `<project>-<version>/<name>:<version>`) or imported from an archive. The files are read as
 * deployed (templates rendered, the storage operator's manifests included); a missing image
 * fails the build naming the file, line and `name:tag`.
 */
function imagesCheckTask(context: BuildContext, deployed: readonly TaskSpec[]): TaskSpec {
  const { config } = context;
  const files = deployed
    .flatMap((task) => task.targets ?? [])
    .filter((file) => SCANNED_FILE.test(file))
    .sort();
  const prefix = `${config.projectName.toLowerCase()}-${config.version.full}`;
  // Read when the check runs: listing the tasks need not parse the image declarations.
  const iso = (): IsoImages => {
    const { remote, local } = context.images();
    return {
      prefix,
      served: [...remote.filter((image) => !image.archive), ...local].map(({ name, version }) => ({ name, version })),
      imported: remote
        .filter((image) => image.archive)
        .map((image) => ({
          name: image.name,
          reference: `${image.source.registry}/${image.source.repository}`,
          version: image.version,
        })),
    };
  };
  return {
    name: 'salt_tree:check-images',
    title: "salt_tree:check-images: the formula's images against the ISO's",
    // images.yaml names every image and version (the product's too); the prefix is the version's.
    file_dep: [...files, config.imagesFile],
    uptodate: [prefix],
    actions: [
      async (ctx) => {
        const named = (
          await Promise.all(
            files.map(async (file) => namedImages(await readFormulaFile(file), relative(config.isoRoot, file))),
          )
        ).flat();
        const missing = missingImages(named, iso());
        if (missing.length > 0)
          throw new BuildError(
            `the ISO lacks ${missing.length} image${missing.length === 1 ? '' : 's'} that its Salt formula names (declare ${missing.length === 1 ? 'it' : 'them'} in ${relative(config.root, config.imagesFile)}):\n` +
              missing.map(({ image, why }) => `  ${image.where}: ${why}`).join('\n'),
          );
        ctx.log(
          `${named.length} image reference${named.length === 1 ? '' : 's'} in ${files.length} files of the formula, all in the ISO`,
        );
      },
    ],
  };
}

function productSaltTasks(context: BuildContext, tree: string): TaskSpec[] {
  const { config } = context;
  const fileValues = Object.fromEntries(
    Object.entries(OPERATOR_MANIFESTS)
      .map(([name, file]) => [name, join(tree, file)])
      .filter(([, file]) => existsSync(file!)),
  );
  const deploy = (folder: string) =>
    fileTreeTasks({
      basename: 'salt_tree',
      source: join(tree, folder),
      destination: join(config.isoRoot, folder),
      namePrefix: folder,
      task_dep: ['_iso_mkdir_root', '_product_source'],
      values: config.templateValues(),
      fileValues,
    });
  return [...deploy('salt'), ...deploy('pillar'), versionsTask(context)];
}

/**
 * salt/metalk8s/versions.json in upstream's shape: the Kubernetes version (kubelet's, as locked),
 * each declared package's pin as packages-rpm/packages.yaml declares it (the same for CentOS and
 * Red Hat), `null` for those it leaves free, as upstream's versions.py does: Salt installs a
 * pinned package at that version and version-locks it, and leaves an unpinned one to yum. Each
 * image's version, and the product's version. Created after _product_source: the product's
 * version and its images' versions are read when it is.
 */
function versionsTask(context: BuildContext): TaskSpec {
  const { config, workspace } = context;
  const target = join(config.isoRoot, 'salt', 'metalk8s', 'versions.json');
  return {
    name: 'salt_tree:salt/metalk8s/versions.json',
    task_dep: ['_iso_mkdir_root', '_resolve_rpm_packages'],
    file_dep: [config.imagesFile, config.packagesFile, workspace.lockFile, config.productVersionFile],
    targets: [target],
    actions: [
      async () => {
        const lock = readLock(workspace.lockFile);
        const packages: Record<string, { version: string | null }> = {};
        for (const request of workspace.declarations.requests)
          packages[request.name] = { version: request.version ?? null };
        for (const pkg of workspace.declarations.build)
          packages[pkg.name] = { version: `${pkg.version}-${pkg.release}${DIST}` };
        const images = context.images();
        const kubelet = lock.packages.find((pkg) => pkg.name === 'kubelet');
        const versions = {
          ...(kubelet ? { kubernetes: { version: kubelet.version } } : {}),
          packages: { centos: sorted(packages), redhat: sorted(packages), ubuntu: {} },
          images: sorted(
            Object.fromEntries(
              [...images.remote, ...images.local].map((image) => [image.name, { version: image.version }]),
            ),
          ),
          metalk8s: { version: config.productVersion().version.full },
        };
        await writeFileAtomic(target, `${JSON.stringify(versions, null, 2)}\n`);
      },
    ],
    clean: true,
  };
}

/**
 * Every state, orchestrate and function that the ISO's scripts and agent invoke must be in the
 * Salt tree it ships: a missing one fails the build, naming the script, line and name. With our
 * stand-in salt-tree/ (METALK8S_SOURCE=none), which cannot install MetalK8s, they are listed only.
 */
function callsCheckTask(config: BuildConfig, saltRoot: string): TaskSpec {
  const scripts = join(config.root, 'scripts');
  const scriptFiles = existsSync(scripts) ? listFiles(scripts).map((file) => join(scripts, file)) : [];
  const agent = join(projectRoot(), 'agent', 'salt.ts');
  return {
    name: 'salt_tree:check-calls',
    title: `salt_tree:check-calls: the scripts' and agent's Salt calls against ${saltRoot}`,
    file_dep: [
      ...scriptFiles,
      agent,
      ...(existsSync(saltRoot) ? listFiles(saltRoot).map((file) => join(saltRoot, file)) : []),
    ],
    actions: [
      async (ctx) => {
        const calls: SaltCall[] = [
          ...scriptFiles.flatMap((file) =>
            shellSaltCalls(readFileSync(file, 'utf8'), join('scripts', file.slice(scripts.length + 1))),
          ),
          ...AGENT_SALT_CALLS.map((call) => ({ ...call, where: 'agent/salt.ts' })),
        ];
        const missing = missingSaltCalls(saltRoot, calls);
        const list = missing.map((call) => `  ${describeSaltCall(call)}`).join('\n');
        if (missing.length > 0 && config.product)
          throw new BuildError(`the ISO's Salt tree (${saltRoot}) lacks what its scripts call:\n${list}`);
        ctx.log(
          missing.length > 0
            ? `METALK8S_SOURCE=none: salt-tree/ lacks ${missing.length} of the ${calls.length} Salt calls of the scripts and agent (this ISO cannot install MetalK8s):\n${list}`
            : `${calls.length} Salt calls of the scripts and agent, all in ${saltRoot}`,
        );
      },
    ],
  };
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}
