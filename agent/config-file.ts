// The list of archive paths in the node's configuration files (/etc/metalk8s/bootstrap.yaml,
// /etc/metalk8s/solutions.yaml), edited in place: the rest of the file, its order and comments
// stay as the operator wrote them (Salt's file.serialize, which upstream uses, rewrites them).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { BuildError } from '../buildchain/errors.ts';
import { writeFileAtomic } from '../buildchain/fs/atomic.ts';
import type { Host } from './host.ts';

export interface ConfigKind {
  apiVersion: string;
  kind: string;
  /** When the file is missing: create it (solutions.yaml) or refuse (bootstrap.yaml). */
  createIfMissing: boolean;
}

export const BOOTSTRAP_CONFIG = {
  file: '/etc/metalk8s/bootstrap.yaml',
  apiVersion: 'metalk8s.scality.com/v1alpha2',
  kind: 'BootstrapConfiguration',
  createIfMissing: false,
};
export const SOLUTIONS_CONFIG = {
  file: '/etc/metalk8s/solutions.yaml',
  apiVersion: 'metalk8s.scality.com/v1alpha1',
  kind: 'SolutionsConfiguration',
  createIfMissing: true,
};

/** The file's document and its `archives` entries. */
function load(file: string, config: ConfigKind): { document: Document; archives: string[] } {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  const document = parseDocument(text ?? '');
  if (document.errors.length > 0)
    throw new BuildError(`${file}: invalid YAML: ${document.errors[0]!.message.split('\n')[0]}`);
  if (document.contents === null) {
    if (!config.createIfMissing)
      throw new BuildError(`${file}: ${text === undefined ? 'not found' : 'empty'} (write the ${config.kind} first)`);
    return {
      document: parseDocument(`${text ?? ''}apiVersion: ${config.apiVersion}\nkind: ${config.kind}\narchives: []\n`),
      archives: [],
    };
  }
  if (!isMap(document.contents)) throw new BuildError(`${file}: expected a ${config.kind} mapping`);
  const kind = document.get('kind');
  if (kind !== undefined && kind !== config.kind)
    throw new BuildError(`${file}: kind is ${String(kind)}, expected ${config.kind}`);
  const archives = document.get('archives', true);
  if (archives === undefined || archives === null || (isScalar(archives) && archives.value === null))
    return { document, archives: [] };
  if (!isSeq(archives) || archives.items.some((item) => !isScalar(item) || typeof item.value !== 'string')) {
    throw new BuildError(`${file}: archives must be a list of paths`);
  }
  return { document, archives: archives.items.map((item) => String((item as { value: string }).value)) };
}

/** The archive paths the file lists (none when it does not exist and may be created). */
export function listArchives(host: Host, config: ConfigKind & { file: string }): string[] {
  return load(host.path(config.file), config).archives;
}

/**
 * Adds `add` and removes `remove` from the file's `archives`; answers whether the file changed.
 * Nothing is written when the list already is as asked.
 */
export async function editArchives(
  host: Host,
  config: ConfigKind & { file: string },
  edit: { add?: readonly string[]; remove?: readonly string[] },
): Promise<boolean> {
  const file = host.path(config.file);
  const { document, archives } = load(file, config);
  const added = (edit.add ?? []).filter((path, index, all) => !archives.includes(path) && all.indexOf(path) === index);
  const removed = (edit.remove ?? []).filter((path) => archives.includes(path));
  if (added.length === 0 && removed.length === 0) {
    host.say(`  ${config.file} already lists what was asked`);
    return false;
  }
  const kept = archives.filter((path) => !removed.includes(path));
  let list = document.get('archives', true);
  if (!isSeq(list)) {
    document.set('archives', document.createNode([]));
    list = document.get('archives', true);
  }
  if (!isSeq(list)) throw new Error('unreachable: archives was just set to a list');
  list.items = list.items.filter((item) => isScalar(item) && kept.includes(String(item.value)));
  for (const path of added) list.add(document.createNode(path));
  list.flow = list.items.length === 0; // `archives: []` when empty, one path per line otherwise
  const mode = existsSync(file) ? statSync(file).mode & 0o7777 : 0o644;
  const what = [...added.map((path) => `add ${path}`), ...removed.map((path) => `remove ${path}`)].join(', ');
  await host.change(`${config.file}: ${what}`, () => writeFileAtomic(file, document.toString(), mode));
  return true;
}
