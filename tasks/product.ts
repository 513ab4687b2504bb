// _product_source: MetalK8s' own repository (METALK8S_SOURCE) at its pinned commit
// (METALK8S_COMMIT), unpacked into BUILD_ROOT/product-source/ for the families that build from it:
// the Salt formula and pillar (salt_tree), metalk8s-ui and storage-operator (images). Fetched once
// into the store as the commit's `git archive`; a build with the archive in its store (an earlier
// build, or offline-import) needs neither git nor network. The product's version is its
// VERSION file, read by the tasks created after this one; its `git describe` is taken at the fetch
// and kept in the record, since the archive has no tags. METALK8S_SOURCE=none: nothing here.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ProductSource } from './config.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { BuildError } from '../buildchain/errors.ts';
import { fetchSource, probeSource, unpackSource, type GitSource } from '../buildchain/sources/git.ts';
import { readSourceRecord, storedSource, writeSourceRecord, type SourceRecord } from '../buildchain/sources/record.ts';
import { requireExecutable } from '../buildchain/tools.ts';
import { removeTree } from '../buildchain/engine/file-tasks.ts';
import type { BuildContext } from './context.ts';

function productGitSource(product: ProductSource): GitSource {
  return { name: 'metalk8s', url: product.url, commit: product.commit, setting: 'METALK8S_SOURCE, METALK8S_COMMIT' };
}

export function productTasks({ config, store }: BuildContext): TaskDefinition[] {
  const { product } = config;
  if (!product) {
    return [
      {
        name: '_product_source',
        doc: 'Nothing to fetch: METALK8S_SOURCE=none (the ISO holds salt-tree/, no UI or operator image).',
        actions: [],
      },
    ];
  }
  const { tree } = product;
  const archiveLink = join(dirname(product.record), 'metalk8s.tar');
  const source = productGitSource(product);
  const stored = async () =>
    (await storedSource(store, readSourceRecord(product.record), product.commit)) !== undefined;
  /** The commit's archive into the store, and its record: from git, after a probe that fails fast. */
  const fetchRecord = async (signal: AbortSignal): Promise<SourceRecord> => {
    const git = requireExecutable(config.bin.git, 'GIT_BIN (fetches METALK8S_SOURCE)');
    const why = await probeSource(git, source);
    if (why) {
      throw new BuildError(
        `unreachable product source: ${product.url} (METALK8S_SOURCE, ${config.origin('METALK8S_SOURCE')}): ${why}\n` +
          `point METALK8S_SOURCE in .env at a reachable mirror, or a local clone, holding commit ${product.commit}`,
        ['METALK8S_SOURCE=<git URL or path>'],
      );
    }
    const record = await fetchSource(store, source, {
      git,
      gitDir: join(config.buildRoot, 'cache', 'git', 'metalk8s.git'),
      signal,
      timeouts: config.httpTimeouts,
    });
    await writeSourceRecord(product.record, record);
    return record;
  };
  return [
    {
      name: '_product_fetch',
      title: `_product_fetch: ${product.url} at ${product.commit.slice(0, 12)}`,
      doc:
        "Fetch MetalK8s' repository at METALK8S_COMMIT into the store as its git archive, recorded in " +
        'BUILD_ROOT/sources/metalk8s.json; stop within seconds if METALK8S_SOURCE does not answer.',
      task_dep: ['_build_root'],
      // The record, and the archive it names as a link to the store's blob: a runner that takes
      // them from the shared cache (the archive as a store blob) needs no git; a cache that lost
      // the blob gives no result, and the commit is fetched here.
      targets: [product.record, archiveLink],
      // A record from before GIT was recorded (no describe) is made again, from the bare repository.
      // The URL is part of the key: the describe comes from that source's tags.
      uptodate: [
        product.commit,
        product.url,
        async () => readSourceRecord(product.record)?.describe !== undefined && existsSync(archiveLink) && stored(),
      ],
      cache: true,
      actions: [
        async (ctx) => {
          let record = readSourceRecord(product.record);
          if (record?.describe !== undefined && (await stored()))
            ctx.log(`${product.commit}: in the store (${record.archive}), nothing to fetch`);
          else {
            record = await fetchRecord(ctx.signal);
            ctx.log(`${product.commit}: fetched from ${product.url} (${record.archive})`);
          }
          await store.linkTo(record.archive, archiveLink);
        },
      ],
      // No clean: an air-gapped runner's record came from offline-import, and git cannot make it again.
    },
    {
      name: '_product_source',
      title: `_product_source: ${product.url} at ${product.commit.slice(0, 12)}`,
      doc: "Unpack MetalK8s' repository at METALK8S_COMMIT from the store into BUILD_ROOT/product-source.",
      task_dep: ['_product_fetch'],
      file_dep: [product.record],
      targets: [tree],
      uptodate: [product.commit],
      actions: [
        async (ctx) => {
          const record = readSourceRecord(product.record);
          if (!record || !(await storedSource(store, record, product.commit)))
            throw new BuildError(
              `${product.record}: no stored archive of ${product.commit}; run ./build.ts _product_fetch`,
            );
          ctx.log(`${product.commit}: from the store (${record.archive})`);
          const files = await unpackSource(
            store,
            record,
            tree,
            `${product.url} at ${product.commit} (METALK8S_SOURCE, METALK8S_COMMIT)`,
          );
          ctx.log(`${files} files in ${tree}; version ${config.productVersion().version.full}, GIT=${record.describe}`);
        },
      ],
      clean: removeTree(tree),
    },
  ];
}
