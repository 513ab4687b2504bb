// packaging: the ISO's yum repositories under BUILD_ROOT/root/packages/redhat/metalk8s-<repo>-el7/, as
// upstream's yumdownloader + rpmbuild + createrepo in a CentOS container, without the container.
// Fetched packages are the dependency closure of packages-rpm/packages.yaml, pinned in a lock;
// built packages come from spec files with rpmbuild; every repository gets createrepo_c metadata.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { BuildConfig } from './config.ts';
import type { BuildContext } from './context.ts';
import type { TaskDefinition, TaskSpec } from '../buildchain/engine/task.ts';
import { BuildError } from '../buildchain/errors.ts';
import { copyFileAtomic, linkAtomic, writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { writeRepository, type RepositoryFile } from '../buildchain/rpm/createrepo.ts';
import type { SpecPackage } from '../buildchain/rpm/declarations.ts';
import { formatLock, readLock } from '../buildchain/rpm/lock.ts';
import { buildRpms, buildSrpm, formatBuiltList, readBuiltList } from '../buildchain/rpm/rpmbuild.ts';
import { gpgSigner, signDetached, type Signer } from '../buildchain/release/openpgp.ts';
import { signPackages } from '../buildchain/release/rpm-sign.ts';
import { requireExecutable } from '../buildchain/tools.ts';
import { removeTree } from '../buildchain/engine/file-tasks.ts';

export function packagingTasks(context: BuildContext): TaskDefinition[] {
  const { config, workspace: work, paths } = context;
  const root = paths.rpmRepositories;
  return [
    {
      name: 'packaging',
      doc: "Build the ISO's yum repositories: fetched packages with their dependencies, and packages built from spec.",
      task_dep: ['_download_rpm_packages', '_build_rpm_packages', '_build_rpm_repositories'],
    },
    {
      name: '_package_mkdir_rpm_iso_root',
      doc: 'Create the RPM repositories directory of the ISO tree.',
      targets: [root],
      uptodate: [true],
      task_dep: ['_iso_mkdir_root'],
      actions: [async () => void (await mkdir(root, { recursive: true }))],
      clean: true,
    },
    {
      name: '_package_check_repositories',
      doc: 'Stop within seconds if a yum repository or spec source that packages need does not answer.',
      // Only what is still needed is asked: with the lock resolved and the packages and sources in
      // the store, a build needs no network.
      uptodate: [
        async () => {
          const { repositories, sources } = await work.neededSources();
          return repositories.length === 0 && sources.length === 0;
        },
      ],
      actions: [async (ctx) => ctx.log(`reachable: ${(await work.checkReachable()).join(', ')}`)],
    },
    {
      name: '_resolve_rpm_packages',
      doc: 'Resolve the dependency closure of the declared packages into BUILD_ROOT/packages.lock.json (or take the committed lock).',
      task_dep: ['_build_root', '_package_check_repositories'],
      file_dep: [config.packagesFile, ...(existsSync(work.committedLock) ? [work.committedLock] : [])],
      targets: [work.lockFile],
      actions: [
        async (ctx) => {
          const committed = work.committed();
          if (committed) {
            await copyFileAtomic(work.committedLock, work.lockFile);
            ctx.log(`${committed.packages.length} packages from ${work.committedLock}`);
            return;
          }
          // A lock already resolved from these declarations (imported with the offline inputs) stays.
          const current = work.currentLock();
          if (current) {
            ctx.log(`${current.packages.length} packages from ${work.lockFile}, resolved from these declarations`);
            return;
          }
          const lock = await work.resolve(ctx.signal);
          await writeFileAtomic(work.lockFile, formatLock(lock));
          ctx.log(`${lock.packages.length} packages in the closure of ${work.declarations.requests.length} declared`);
        },
      ],
      clean: true,
    },
    {
      name: 'rpm_lock',
      doc: 'Resolve the package closure from the repositories and write packages-rpm/packages.lock.json, to commit.',
      task_dep: ['_build_root'],
      actions: [
        async (ctx) => {
          const lock = await work.resolve(ctx.signal);
          await writeFileAtomic(work.committedLock, formatLock(lock));
          ctx.log(`${work.committedLock}: ${lock.packages.length} packages`);
        },
      ],
    },
    {
      name: '_download_rpm_packages',
      doc: 'Download the locked packages into the blob store, checksums verified.',
      task_dep: ['_resolve_rpm_packages'],
      file_dep: [work.lockFile],
      uptodate: [
        async () => {
          const lock = readLock(work.lockFile);
          return (await work.missing(lock)).length === 0 && (await work.missingKeys(lock)).length === 0;
        },
      ],
      actions: [
        async (ctx) => {
          const done = await work.download(readLock(work.lockFile), {
            jobs: config.pullJobs,
            signal: ctx.signal,
            onBytes: (bytes) => ctx.progress(bytes),
          });
          ctx.log(`${done.packages} packages, ${done.bytes} bytes downloaded`);
        },
      ],
    },
    {
      basename: '_build_rpm_packages',
      doc: 'Build packages from their spec files (sources, source package, binary packages).',
      after: [],
      create: () => work.declarations.build.flatMap((pkg) => specTasks(context, pkg)),
    },
    {
      basename: '_build_rpm_repositories',
      doc: 'Lay out each ISO yum repository (metalk8s-<repo>-el7) and its createrepo_c metadata.',
      after: [],
      create: () => {
        const shipped = work.declarations.repositories.filter((repo) => repo.iso).map((repo) => repo.name);
        const names = [...new Set([...shipped, ...work.declarations.build.map((pkg) => pkg.repository)])].sort();
        return names.map((name) => repositoryTask(context, name));
      },
    },
  ];
}

/** The signer of built packages and repository metadata, when GPG_KEY names a key. */
function signerFor(config: BuildConfig, signal: AbortSignal): (Signer & { rpmsign: string }) | undefined {
  const signer = gpgSigner(config, signal);
  return signer && { ...signer, rpmsign: requireExecutable('rpmsign') };
}

function specTasks({ config, workspace: work, paths }: BuildContext, pkg: SpecPackage): TaskSpec[] {
  const dir = paths.specTopdir(pkg);
  const sources = pkg.sources.map((source) => join(dir, 'SOURCES', source.name));
  const srpm = join(dir, 'SRPMS', `${pkg.name}-${pkg.version}-${pkg.release}.el7.src.rpm`);
  const options = (signal: AbortSignal) => ({
    rpmbuild: requireExecutable(config.bin.rpmbuild, 'RPMBUILD_BIN'),
    topdir: dir,
    sourceDateEpoch: config.sourceDateEpoch,
    signal,
  });
  return [
    {
      name: `_build_rpm_packages:${pkg.name}/get_source`,
      title: `_build_rpm_packages: ${pkg.name} sources`,
      task_dep: ['_build_root', '_package_check_repositories'],
      file_dep: pkg.sources.flatMap((source) => (source.file ? [source.file] : [])),
      targets: sources,
      uptodate: [
        pkg.sources.map((source) => (source.url ? `${source.name}=${source.url}@${source.sha256}` : source.name)),
      ],
      actions: [
        async (ctx) => {
          for (const source of pkg.sources) {
            const target = join(dir, 'SOURCES', source.name);
            if (source.file) {
              await copyFileAtomic(source.file, target);
              continue;
            }
            await work.store.linkTo(
              await work.fetchSource({ ...source, url: source.url!, sha256: source.sha256! }, pkg.name, ctx.signal),
              target,
            );
          }
        },
      ],
      clean: true,
    },
    {
      name: `_build_rpm_packages:${pkg.name}/srpm`,
      title: `_build_rpm_packages: ${basename(srpm)}`,
      task_dep: [`_build_rpm_packages:${pkg.name}/get_source`],
      file_dep: [pkg.spec, ...sources],
      targets: [srpm],
      uptodate: [config.sourceDateEpoch ?? null],
      cache: true,
      actions: [
        async (ctx) => {
          await rm(join(dir, 'SRPMS'), { recursive: true, force: true });
          await buildSrpm(pkg, options(ctx.signal));
        },
      ],
      clean: true,
    },
    {
      name: `_build_rpm_packages:${pkg.name}/rpm`,
      title: `_build_rpm_packages: ${pkg.name}-${pkg.version}-${pkg.release}.el7 binary packages`,
      task_dep: [`_build_rpm_packages:${pkg.name}/srpm`],
      file_dep: [srpm],
      // The packages too, so that the shared cache carries them with their list.
      targets: [paths.builtList(pkg), join(dir, 'rebuild', 'RPMS')],
      uptodate: [config.sourceDateEpoch ?? null, config.gpgKey ?? null],
      cache: true,
      actions: [
        async (ctx) => {
          // A topdir of its own: --rebuild removes the sources it unpacks, which get_source owns.
          const rebuild = join(dir, 'rebuild');
          await rm(rebuild, { recursive: true, force: true });
          const rpms = await buildRpms(srpm, { ...options(ctx.signal), topdir: rebuild });
          const signer = signerFor(config, ctx.signal);
          if (signer) await signPackages(rpms, signer);
          await writeFileAtomic(paths.builtList(pkg), formatBuiltList(paths.builtList(pkg), rpms));
          ctx.log(rpms.map((rpm) => basename(rpm)).join('\n'));
        },
      ],
      clean: true,
    },
  ];
}

function repositoryTask({ config, workspace: work, paths }: BuildContext, name: string): TaskSpec {
  const dir = paths.repository(name);
  const built = work.declarations.build.filter((pkg) => pkg.repository === name);
  const fetches = work.declarations.repositories.some((repo) => repo.name === name && repo.iso);
  return {
    name: `_build_rpm_repositories:${name}`,
    title: `_build_rpm_repositories: ${basename(dir)}`,
    task_dep: [
      '_package_mkdir_rpm_iso_root',
      ...(fetches ? ['_download_rpm_packages'] : []),
      ...built.map((pkg) => `_build_rpm_packages:${pkg.name}/rpm`),
    ],
    file_dep: [...(fetches ? [work.lockFile] : []), ...built.map((pkg) => paths.builtList(pkg))],
    targets: [dir],
    uptodate: [
      config.sourceDateEpoch ?? null,
      config.gpgKey ?? null,
      () => existsSync(join(dir, 'repodata', 'repomd.xml')),
    ],
    cache: true,
    actions: [
      async (ctx) => {
        const files: RepositoryFile[] = [];
        if (fetches) {
          const lock = readLock(work.lockFile);
          for (const pkg of lock.packages.filter((entry) => entry.repo === name)) {
            files.push({ name: basename(pkg.location), place: (path) => work.store.linkTo(pkg.digest, path) });
          }
          for (const key of lock.keys.filter((entry) => entry.repo === name)) {
            files.push({ name: key.file, place: (path) => work.store.linkTo(key.digest, path) });
          }
        }
        for (const pkg of built) {
          for (const rpm of await readBuiltList(paths.builtList(pkg))) {
            files.push({ name: basename(rpm), place: (path) => linkAtomic(rpm, path) });
          }
        }
        const seen = new Set<string>();
        for (const file of files) {
          if (seen.has(file.name)) throw new BuildError(`${basename(dir)}: two packages are named ${file.name}`);
          seen.add(file.name);
        }
        const signer = signerFor(config, ctx.signal);
        await writeRepository(dir, files, {
          createrepo: requireExecutable(config.bin.createrepo, 'CREATEREPO_BIN'),
          sourceDateEpoch: config.sourceDateEpoch,
          signal: ctx.signal,
          ...(signer ? { signMetadata: (repomd: string) => signDetached(repomd, signer) } : {}),
        });
        ctx.log(`${basename(dir)}: ${files.length} packages`);
      },
    ],
    clean: removeTree(dir),
  };
}
