// _iso_sbom: sbom.spdx.json at the ISO root, listing every image and package of the ISO (and the
// agent's runtime) with its digest and origin (SPDX 2.3). Created once the images and packages
// are in place: its inputs are their manifests, archives, lock and lists of built packages.
import { join } from 'node:path';
import { buildTimestamp } from '../buildchain/timestamp.ts';
import type { ProductSource } from './config.ts';
import { BuildError } from '../buildchain/errors.ts';
import { readSourceRecord } from '../buildchain/sources/record.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import { digestHex } from '../buildchain/store/sha256.ts';
import { loadRuntimeDeclaration, runtimeUrl } from '../buildchain/sources/npm-runtime.ts';
import { spdxDocument, type SbomSource } from '../buildchain/release/sbom.ts';
import { imageFiles, inventoryImages, inventoryPackages, packageFiles } from '../buildchain/release/inventory.ts';
import type { BuildContext } from './context.ts';

/** The product source as the SBOM lists it: the record of what the build fetched. */
function productSbomSource(product: ProductSource): SbomSource {
  const record = readSourceRecord(product.record);
  if (record?.commit !== product.commit)
    throw new BuildError(
      `${product.record}: no record of ${product.url} at ${product.commit}; run ./build.ts _product_source`,
    );
  return {
    name: 'metalk8s',
    url: product.url,
    commit: product.commit,
    archiveSha256: digestHex(record.archive),
  };
}

export function sbomTasks(context: BuildContext): TaskDefinition[] {
  const { config } = context;
  const target = context.paths.sbom;
  return [
    {
      basename: '_iso_sbom',
      doc: 'Write sbom.spdx.json at the ISO root: every image and package of the ISO, with digests and origins (SPDX 2.3).',
      after: ['images', 'packaging', '_product_source'],
      create: () => [
        {
          name: '_iso_sbom:sbom.spdx.json',
          task_dep: ['_iso_mkdir_root'],
          file_dep: [
            ...imageFiles(context.imageInventory()),
            ...packageFiles(context.packageInventory()),
            config.runtimeFile,
            join(config.isoRoot, 'runtime', 'node'),
            ...(config.product ? [config.product.record] : []),
          ],
          targets: [target],
          uptodate: [
            config.projectName,
            config.productVersion().version.full,
            config.version.full,
            config.sourceDateEpoch ?? null,
          ],
          actions: [
            async (ctx) => {
              // SOURCE_DATE_EPOCH when set; else the time of this writing, kept while the inputs hold.
              const runtime = loadRuntimeDeclaration(config.runtimeFile);
              const document = spdxDocument({
                product: config.projectName,
                version: config.productVersion().version.full,
                toolVersion: config.version.full,
                created: buildTimestamp(config.sourceDateEpoch),
                images: await inventoryImages(context.imageInventory()),
                rpms: await inventoryPackages(context.packageInventory(), ctx.signal),
                runtime: {
                  ...runtime,
                  tarballSha256: runtime.sha256,
                  url: runtimeUrl(config.npmRegistry, runtime),
                  sha256: await context.store.sha256Of(join(config.isoRoot, 'runtime', 'node')),
                },
                ...(config.product ? { source: productSbomSource(config.product) } : {}),
              });
              await writeFileAtomic(target, `${JSON.stringify(document, null, 2)}\n`);
              ctx.log(`${(document.packages as unknown[]).length} packages`);
            },
          ],
          clean: true,
        },
      ],
    },
  ];
}
