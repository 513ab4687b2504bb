#!/bin/sh
//bin/true; f=$0; [ -L "$f" ] && f=$(readlink -f "$f"); case $f in */*) ;; *) f=./$f ;; esac; [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && export METALK8S_DEFERRED_CA_CERTS="$NODE_EXTRA_CA_CERTS" && unset NODE_EXTRA_CA_CERTS; exec node --max-semi-space-size=1 --optimize-for-size --single-threaded "${f%/*}/buildchain/launch/launch.cjs" "$f" "$@"
// ./toolkit.ts (metalk8s-toolkit): the artifact toolkit for release pipelines, Solution vendors
// and nodes. A thin argv layer: each command's logic lives in buildchain/, static-registry/ or agent/.
// Exit codes: 0 success, 1 failure (one line naming the file, field or URL), 2 bad usage.
// Node runs with --max-semi-space-size=1 --optimize-for-size --single-threaded (line 2): V8
// otherwise lets its young generation grow to 3 x 16 MiB under the many short-lived objects of
// scanning a tree, its old generation well past what is live, and its compiler and collector
// threads hold memory of their own. Measured on `iso create`: peak RSS 155 -> about 100 MiB on /usr
// (144,000 names), 115 -> 79 MiB on /usr/share, still faster than xorriso. (--no-opt saves 6 MiB
// more but makes /usr/lib 1.5x slower: the optimizing compiler stays.)
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { interruptSignal, positionals, runCommandLine, type Command } from './buildchain/command-line.ts';
import { loadConfig } from './tasks/config.ts';
import { BuildError, UsageError } from './buildchain/errors.ts';
import { projectRoot } from './buildchain/paths.ts';
import { ARCHIVE_COMMANDS } from './agent/commands.ts';
import { RELEASE_COMMANDS } from './buildchain/release/commands.ts';
// Each command loads what it needs when it runs (import() below): `iso create` on a tree of
// 150,000 names must not carry the YAML parser, the registry client and the RPM resolver in
// memory, nor any command pay for loading them all.

/** The build's blob store (or --cache DIR), registry mirrors and HTTP timeouts, as ./build.ts uses them. */
async function imageTools(cache: string | boolean | string[] | undefined) {
  const [{ BlobStore }, { ImagePuller }, { setHttpTimeouts }] = await Promise.all([
    import('./buildchain/store/blob-store.ts'),
    import('./buildchain/oci/puller.ts'),
    import('./buildchain/http.ts'),
  ]);
  const config = loadConfig(projectRoot());
  setHttpTimeouts(config.httpTimeouts);
  const store = new BlobStore(typeof cache === 'string' ? resolve(cache) : join(config.buildRoot, 'cache'));
  return {
    config,
    store,
    puller: new ImagePuller({ store, mirrors: config.registryMirrors, concurrency: config.pullJobs }),
  };
}

const COMMANDS: Record<string, Command> = {
  ...ARCHIVE_COMMANDS,
  'iso create': {
    synopsis: 'DIR -o FILE [--volid ID]',
    summary: "write DIR as an ISO 9660 + Rock Ridge + Joliet image dated SOURCE_DATE_EPOCH, else DIR's newest mtime",
    async run(argv) {
      const { values, args } = positionals(
        argv,
        { output: { type: 'string', short: 'o' }, volid: { type: 'string' } },
        ['DIR'],
      );
      if (typeof values.output !== 'string') throw new UsageError('iso create needs -o FILE');
      // As xorriso does, the output's directory must exist: a mistyped path creates nothing.
      const outputDir = dirname(resolve(values.output));
      if (!statSync(outputDir, { throwIfNoEntry: false })?.isDirectory())
        throw new BuildError(`${outputDir}: no such directory (for -o ${values.output})`);
      const config = loadConfig(projectRoot());
      const volumeId = typeof values.volid === 'string' ? values.volid : `${config.projectName} ${config.version.full}`;
      const [{ writeIso }, { writeProgress }] = await Promise.all([
        import('./buildchain/iso9660/writer.ts'),
        import('./buildchain/iso9660/progress.ts'),
      ]);
      const progress = await writeProgress(process.stderr, values.output);
      const result = await writeIso(args[0]!, values.output, {
        volumeId,
        ...(config.sourceDateEpoch !== undefined ? { sourceDateEpoch: config.sourceDateEpoch } : {}),
        ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
      }).finally(() => progress.done());
      process.stdout.write(`${result.sha256}  ${values.output}\n`);
      return 0;
    },
  },
  'image pull': {
    synopsis: 'REF@DIGEST DIR [--platform OS/ARCH] [--cache DIR]',
    summary: 'pull an image by digest as a dir: layout',
    async run(argv) {
      const { values, args } = positionals(argv, { platform: { type: 'string' }, cache: { type: 'string' } }, [
        'REF@DIGEST',
        'DIR',
      ]);
      const [{ parseReference }, { parsePlatform }, { writeDirLayout }] = await Promise.all([
        import('./buildchain/oci/reference.ts'),
        import('./buildchain/oci/pull.ts'),
        import('./buildchain/oci/layout.ts'),
      ]);
      // A malformed reference or digest is a command-line mistake (exit 2), as a tag-only one is.
      const ref = asUsage(() => parseReference(args[0]!, 'REF@DIGEST'));
      if (!ref.digest) throw new UsageError(`image pull needs a reference pinned by digest (${args[0]}@sha256:...)`);
      const { puller, store } = await imageTools(values.cache);
      const platform = typeof values.platform === 'string' ? parsePlatform(values.platform, '--platform') : undefined;
      const image = await puller.pull(
        { ...ref, digest: ref.digest },
        { describe: args[0]!, signal: interruptSignal(), ...(platform ? { platform } : {}) },
      );
      await writeDirLayout(store, image, args[1]!);
      process.stdout.write(`${image.top.digest}  ${args[1]}\n`);
      return 0;
    },
  },
  'image build': {
    synopsis: 'SPEC DIR [--cache DIR] [--repo DIR]...',
    summary:
      'build an image from a definition (image.yaml) without a daemon; packages layers install\n' +
      'from the repositories they name, else from the yum repositories DIR (with repodata/)',
    async run(argv) {
      const { values, args } = positionals(
        argv,
        { cache: { type: 'string' }, repo: { type: 'string', multiple: true } },
        ['SPEC', 'DIR'],
      );
      const [
        { buildImage },
        { loadBuildSpec },
        { writeDirLayout },
        { layerPackagesOf },
        { localClosure },
        { PackageWorkspace },
      ] = await Promise.all([
        import('./buildchain/oci/builder.ts'),
        import('./buildchain/oci/build-spec.ts'),
        import('./buildchain/oci/layout.ts'),
        import('./buildchain/oci/package-layers.ts'),
        import('./buildchain/oci/local-closure.ts'),
        import('./buildchain/rpm/workspace.ts'),
      ]);
      const { puller, store, config } = await imageTools(values.cache);
      const repos = (Array.isArray(values.repo) ? values.repo : []).map((dir) => resolve(dir));
      const spec = loadBuildSpec(args[0]!);
      const signal = interruptSignal();
      // Layers that name repositories fetch from them (mirrors from .env), resolved afresh: no lock is kept.
      const remote = layerPackagesOf(
        spec,
        spec.name,
        new PackageWorkspace({
          packagesFile: config.packagesFile,
          buildRoot: config.buildRoot,
          mirrors: config.yumMirrors,
          store,
        }),
        { jobs: config.pullJobs },
      );
      const image = await buildImage(spec, {
        store,
        puller,
        signal,
        packageFiles: async (layer, installed) => {
          if (layer.repositories) return remote!.files(layer.index, installed, signal);
          if (repos.length === 0)
            throw new UsageError(
              `${layer.where}: its packages need yum repositories: give them with --repo DIR, or name them in the layer ("repositories")`,
            );
          return localClosure(repos, layer.packages, layer.where, installed);
        },
        ...(config.sourceDateEpoch !== undefined ? { sourceDateEpoch: config.sourceDateEpoch } : {}),
      });
      await writeDirLayout(store, image, args[1]!);
      process.stdout.write(`${image.top.digest}  ${args[1]}\n`);
      return 0;
    },
  },
  'registry-config': {
    synopsis: '[--name-prefix P] [--server-root R] [--omit-constants|--only-constants] [ROOT]',
    summary: 'nginx locations serving ROOT/<name>/<tag>/ layouts as a registry',
    group: 'registry',
    async run(argv) {
      const { values, positionals: rest } = parseArgs({
        args: argv,
        allowPositionals: true,
        strict: true,
        options: {
          'name-prefix': { type: 'string' },
          'server-root': { type: 'string' },
          'omit-constants': { type: 'boolean' },
          'only-constants': { type: 'boolean' },
        },
      });
      if (values['omit-constants'] && values['only-constants'])
        throw new UsageError('--omit-constants and --only-constants exclude each other');
      if (rest.length > 1) throw new UsageError(`expected at most one ROOT, got ${rest.length} arguments`);
      const { registryConfigFor } = await import('./static-registry/index.ts');
      process.stdout.write(
        registryConfigFor(rest[0] ?? process.cwd(), {
          constants: values['omit-constants'] ? 'omit' : values['only-constants'] ? 'only' : 'include',
          ...(values['name-prefix'] !== undefined ? { namePrefix: values['name-prefix'] } : {}),
          ...(values['server-root'] !== undefined ? { serverRoot: values['server-root'] } : {}),
        }),
      );
      return 0;
    },
  },
  'solution build': {
    synopsis: 'SRC_DIR -o FILE [--cache DIR]',
    summary: 'make a Solution ISO from its source tree',
    async run(argv) {
      const { values, args } = positionals(
        argv,
        { output: { type: 'string', short: 'o' }, cache: { type: 'string' } },
        ['SRC_DIR'],
      );
      if (typeof values.output !== 'string') throw new UsageError('solution build needs -o FILE');
      const { buildSolution } = await import('./agent/solution/build.ts');
      const { config, puller } = await imageTools(values.cache);
      const built = await buildSolution(resolve(args[0]!), resolve(values.output), {
        sourceDateEpoch: config.sourceDateEpoch,
        puller,
        signal: interruptSignal(),
        toolkitVersion: config.version.full,
      });
      process.stdout.write(`${built.sha256}  ${values.output} (${built.name} ${built.version})\n`);
      return 0;
    },
  },
  verify: {
    synopsis: 'FILE [--key PUBKEY] [--sums SHA256SUM]',
    summary: 'check an ISO against SHA256SUM, its SBOM and, with --key, its signature',
    group: 'release',
    async run(argv) {
      const { values, args } = positionals(argv, { key: { type: 'string' }, sums: { type: 'string' } }, ['FILE']);
      const { verifyIso } = await import('./buildchain/release/verify.ts');
      const config = loadConfig(projectRoot());
      const checked = await verifyIso(resolve(args[0]!), {
        gpg: config.bin.gpg,
        signal: interruptSignal(),
        ...(typeof values.key === 'string' ? { publicKey: resolve(values.key) } : {}),
        ...(typeof values.sums === 'string' ? { sums: resolve(values.sums) } : {}),
      });
      process.stdout.write(`${checked.join('\n')}\n`);
      return 0;
    },
  },
  ...RELEASE_COMMANDS,
  'offline-import': {
    synopsis: 'FILE',
    summary: "put a build's inputs (./build.ts offline_export) into this build's store",
    group: 'offline',
    async run(argv) {
      const { args } = positionals(argv, {}, ['FILE']);
      const config = loadConfig(projectRoot());
      const { importInputs } = await import('./buildchain/offline/inputs.ts');
      const { blobs } = await importInputs(config, resolve(args[0]!));
      process.stdout.write(
        `${blobs} blobs into ${join(config.buildRoot, 'cache')}, and the package lock; ./build.ts iso needs no network now\n`,
      );
      return 0;
    },
  },
  version: {
    synopsis: '[--json]',
    summary: 'the toolkit version and source revision',
    group: 'release',
    run(args) {
      const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
      const config = loadConfig(projectRoot());
      const info = { name: config.projectName, version: config.version.full, git: config.gitRef() ?? null };
      process.stdout.write(
        values.json
          ? `${JSON.stringify(info)}\n`
          : `${info.name} toolkit ${info.version}${info.git ? ` (${info.git})` : ''}\n`,
      );
      return 0;
    },
  },
};

const GROUPS = ['iso', 'image', 'registry', 'solution', 'release', 'offline'];

void runCommandLine(
  {
    invocation: './toolkit.ts',
    name: 'toolkit',
    aside: 'also installed as metalk8s-toolkit',
    commands: COMMANDS,
    groups: GROUPS,
  },
  process.argv.slice(2),
).then((code) => {
  process.exitCode = code;
});

/** Runs a parser of command-line words, turning its BuildError into the usage error it is. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof BuildError) throw new UsageError(error.message);
    throw error;
  }
}
