// What an archive says it is: product.txt at the root of an ISO (read without mounting it) or of
// a directory holding an unpacked archive, as MetalK8s and Solution archives both carry it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../buildchain/errors.ts';
import { IsoReader } from '../buildchain/iso9660/reader.ts';
import { parseProduct } from './solution/product.ts';

export interface ArchiveInfo {
  path: string;
  /** True for an ISO file, false for a directory. */
  iso: boolean;
  name: string;
  version: string;
  product: Map<string, string>;
}

export async function readArchiveInfo(path: string): Promise<ArchiveInfo> {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) throw new BuildError(`${path}: no such file or directory`);
  let text: string;
  if (stat.isDirectory()) {
    const file = join(path, 'product.txt');
    if (!existsSync(file)) throw new BuildError(`${file}: missing, ${path} is not an archive`);
    text = readFileSync(file, 'utf8');
  } else {
    const reader = await IsoReader.open(path);
    try {
      const entry = (await reader.list()).entries.find((candidate) => candidate.path === 'product.txt');
      if (!entry || entry.type !== 'file')
        throw new BuildError(`${path}: no product.txt at the ISO root, not a MetalK8s or Solution archive`);
      text = (await reader.readFile(entry)).toString('utf8');
    } finally {
      await reader.close();
    }
  }
  const product = parseProduct(text);
  const name = product.get('NAME');
  const version = product.get('VERSION');
  if (!name || !version) throw new BuildError(`${path}: product.txt has no ${name ? 'VERSION' : 'NAME'}`);
  return { path, iso: !stat.isDirectory(), name, version, product };
}

/** Whether a directory holds an archive of that name and version (mounted, or extracted there). */
export function holdsArchive(dir: string, info: Pick<ArchiveInfo, 'name' | 'version'>): boolean {
  const file = join(dir, 'product.txt');
  if (!existsSync(file)) return false;
  const product = parseProduct(readFileSync(file, 'utf8'));
  return product.get('NAME') === info.name && product.get('VERSION') === info.version;
}
