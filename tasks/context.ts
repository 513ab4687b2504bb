// The build context: made once per project (tasks/index.ts) and handed to every task family, so
// that they share one content store, one image puller and one package workspace, read the image
// declarations once, and name the ISO tree's places one way. Families import this module and
// config.ts, never one another.
import { statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { openCache } from '../buildchain/cache/index.ts';
import type { ResultCache } from '../buildchain/engine/task.ts';
import type { ImageDeclarations } from '../buildchain/oci/declarations.ts';
import { declaredImages } from '../buildchain/oci/declarations.ts';
import { ImagePuller } from '../buildchain/oci/puller.ts';
import { tagLockFile } from '../buildchain/oci/tag-lock-file.ts';
import type { ImageInventory, PackageInventory } from '../buildchain/release/inventory.ts';
import type { SpecPackage } from '../buildchain/rpm/declarations.ts';
import { PackageWorkspace } from '../buildchain/rpm/workspace.ts';
import { BlobStore } from '../buildchain/store/blob-store.ts';
import { setHttpTimeouts } from '../buildchain/http.ts';
import { findExecutable } from '../buildchain/tools.ts';
import type { BuildConfig } from './config.ts';

export interface BuildContext {
  config: BuildConfig;
  /** BUILD_ROOT/cache: image blobs, packages, keys, spec sources, the runtime, the product source. */
  store: BlobStore;
  /** With CACHE_REGISTRY: the tasks' shared results (the store's blobs are shared through the store itself). */
  results: ResultCache | undefined;
  /** Made on first use: `./build.ts list` needs neither. */
  readonly puller: ImagePuller;
  readonly workspace: PackageWorkspace;
  /**
   * IMAGES_FILE's declarations (the product's images included), read on first use and again when
   * its lock changes (_image_lock pins images declared by tag during the build).
   */
  images(): ImageDeclarations;
  paths: IsoPaths;
  imageInventory(): ImageInventory;
  packageInventory(): PackageInventory;
  /** What the ISO's documentation/ holds (the doc family builds it, product.txt says which). */
  documentation(): Documentation;
}

/** The Debian packages Sphinx' LaTeX builder and latexmk need for the product's PDF. */
export const LATEX_PACKAGES =
  'latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended tex-gyre';

/**
 * The PDF under upstream's name when latexmk is there; else Sphinx' HTML tree, saying what to
 * install; nothing without a product source. `note` is product.txt's DOCUMENTATION value.
 */
export type Documentation = { format: 'pdf' | 'html' | 'none'; note: string };

/** documentation/'s PDF, as upstream names it (its buildchain/docs.py). */
export const DOCUMENTATION_PDF = 'user-guide.pdf';

export interface IsoPaths {
  /** BUILD_ROOT/root/images. */
  images: string;
  /** BUILD_ROOT/root/packages/redhat. */
  rpmRepositories: string;
  /** The ISO repository of a source or build repository, as upstream names it: `metalk8s-<repo>-el7`. */
  repositoryName(repo: string): string;
  repository(repo: string): string;
  /** Where a spec is built (its rpmbuild topdir), and the list of binary packages it made. */
  specTopdir(pkg: SpecPackage): string;
  builtList(pkg: SpecPackage): string;
  /** BUILD_ROOT/root/sbom.spdx.json. */
  sbom: string;
  /** BUILD_ROOT/<project name, lowercased>.iso: what the iso task writes and publish pushes. */
  iso: string;
}

export function createContext(config: BuildConfig): BuildContext {
  // Every client of the build (registries, yum repositories, the runtime, spec sources) requests through http.ts.
  setHttpTimeouts(config.httpTimeouts);
  const store = new BlobStore(join(config.buildRoot, 'cache'));
  // Opening the cache sends nothing: the first blob or task it is asked about does.
  const results = config.cache && openCache(config.cache, store).results;
  let puller: ImagePuller | undefined;
  let workspace: PackageWorkspace | undefined;
  let images: { declarations: ImageDeclarations; lock: string } | undefined;
  const lockStamp = () => {
    const stats = statSync(tagLockFile(config.imagesFile), { throwIfNoEntry: false });
    return stats ? `${stats.mtimeMs} ${stats.size} ${stats.ino}` : 'none';
  };
  const paths: IsoPaths = {
    images: join(config.isoRoot, 'images'),
    rpmRepositories: join(config.isoRoot, 'packages', 'redhat'),
    repositoryName: (repo) => `${config.projectName.toLowerCase()}-${repo}-el7`,
    repository: (repo) => join(paths.rpmRepositories, paths.repositoryName(repo)),
    specTopdir: (pkg) => join(config.buildRoot, 'rpmbuild', pkg.name),
    builtList: (pkg) => join(paths.specTopdir(pkg), 'built.txt'),
    sbom: join(config.isoRoot, 'sbom.spdx.json'),
    iso: join(config.buildRoot, `${config.projectName.toLowerCase()}.iso`),
  };
  const context: BuildContext = {
    config,
    store,
    results,
    get puller() {
      puller ??= new ImagePuller({ store, mirrors: config.registryMirrors, concurrency: config.pullJobs });
      return puller;
    },
    get workspace() {
      workspace ??= new PackageWorkspace({
        packagesFile: config.packagesFile,
        buildRoot: config.buildRoot,
        mirrors: config.yumMirrors,
        sourcesMirror: config.sourcesMirror,
        store,
      });
      return workspace;
    },
    images: () => {
      const lock = lockStamp();
      if (images?.lock !== lock) images = { declarations: declaredImages(config), lock };
      return images.declarations;
    },
    paths,
    imageInventory: () => ({
      isoRoot: config.isoRoot,
      sha256Of: (path) => store.sha256Of(path),
      declarations: context.images(),
      definitionName: (definition, fromProduct) =>
        fromProduct ? `product:${relative(config.product!.tree, definition)}` : relative(config.root, definition),
    }),
    documentation: () => {
      if (!config.product) return { format: 'none', note: 'none (METALK8S_SOURCE=none)' };
      if (findExecutable(config.bin.latexmk))
        return { format: 'pdf', note: `pdf (documentation/${DOCUMENTATION_PDF})` };
      return {
        format: 'html',
        note: `html (latexmk not installed, LATEXMK_BIN=${config.bin.latexmk}: apt-get install -y ${LATEX_PACKAGES})`,
      };
    },
    packageInventory: () => ({
      lockFile: context.workspace.lockFile,
      sha256Of: (path) => store.sha256Of(path),
      built: context.workspace.declarations.build.map((pkg) => ({ pkg, list: paths.builtList(pkg) })),
      inIso: (repo, file) => `packages/redhat/${paths.repositoryName(repo)}/${file}`,
      specName: (spec) => relative(config.root, spec),
    }),
  };
  return context;
}
