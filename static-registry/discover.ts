// Finds the images a static registry serves: every `<name>/<tag>/` directory under ROOT that holds
// a skopeo `dir:` layout. Names may have several components (`some/image/1.0/manifest.json` is
// `some/image:1.0`). Anything that looks like part of the tree but is not a valid image is an
// error naming it: a registry that silently lacks an image fails much later, on a node.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { BuildError } from '../buildchain/errors.ts';
import { readDirLayout, type Layout } from '../buildchain/oci/layout.ts';

export interface ImageTag {
  /** Repository name relative to ROOT, components joined by '/'. */
  name: string;
  tag: string;
  layout: Layout;
}

function subdirectories(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    throw new BuildError(
      `${dir}: cannot read the images directory (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  return (
    entries
      // Hidden entries are work in progress (a layout being staged); plain files at any level are
      // not images (upstream keeps image tarballs beside the layouts).
      .filter(
        (entry) =>
          !entry.name.startsWith('.') &&
          (entry.isDirectory() || (entry.isSymbolicLink() && statSync(join(dir, entry.name)).isDirectory())),
      )
      .map((entry) => entry.name)
      .sort()
  );
}

function hasManifest(dir: string): boolean {
  try {
    return statSync(join(dir, 'manifest.json')).isFile();
  } catch {
    return false;
  }
}

/** Every image layout under `root`, sorted by name then tag. */
export function findImages(root: string): ImageTag[] {
  if (hasManifest(root))
    throw new BuildError(`${root}: is itself an image layout; give the directory that holds <name>/<tag>/ layouts`);
  const found: ImageTag[] = [];
  const visit = (dir: string): void => {
    const children = subdirectories(dir);
    if (children.length === 0 && dir !== root) {
      throw new BuildError(`${dir}: neither an image layout (no manifest.json) nor a directory of images`);
    }
    for (const child of children) {
      const path = join(dir, child);
      if (!hasManifest(path)) {
        visit(path);
        continue;
      }
      if (dir === root)
        throw new BuildError(`${path}: an image layout directly under ${root}; layouts go in <name>/<tag>/`);
      found.push({ name: relative(root, dir).split(sep).join('/'), tag: child, layout: readDirLayout(path) });
    }
  };
  visit(root);
  return found;
}
