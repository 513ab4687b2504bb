// Checks a Solution ISO against the Solution archive guidelines, on the ISO itself (no mount):
// format and volume id, ISO 9660 level-3 name lengths, product.txt, images, operator and UI
// manifests, symlinks and paths. Each violation names the path and the rule.
import { posix } from 'node:path';
import semver from 'semver';
import { parseAllDocuments } from 'yaml';
import { IsoReader, type IsoEntry } from '../../buildchain/iso9660/reader.ts';
import { createSha256, digestHex } from '../../buildchain/store/sha256.ts';
import { parseProduct } from './product.ts';

export interface Violation {
  path: string;
  rule: string;
}

export const OPERATOR_FILES = ['operator.yaml', 'role.yaml', 'role_binding.yaml', 'service_account.yaml'].map(
  (file) => `operator/deploy/${file}`,
);
export const UI_FILE = 'ui/deployment.yaml';

export async function validateSolution(
  iso: string,
): Promise<{ name?: string; version?: string; violations: Violation[] }> {
  const violations: Violation[] = [];
  const violate = (path: string, rule: string) => violations.push({ path, rule });
  const reader = await IsoReader.open(iso);
  try {
    const info = await reader.list();
    const entries = new Map(info.entries.map((entry) => [entry.path, entry]));
    const read = (entry: IsoEntry) => reader.readFile(entry);
    const text = async (path: string): Promise<string | undefined> => {
      const entry = entries.get(path);
      if (!entry || entry.type !== 'file') {
        violate(path, 'missing: the Solution archive guidelines require it');
        return undefined;
      }
      return (await read(entry)).toString('utf8');
    };

    if (!info.rockRidge) violate('/', 'no Rock Ridge records: the archive must carry them');
    if (!info.joliet) violate('/', 'no Joliet records: the archive must carry them');
    for (const entry of info.entries) {
      if (entry.identifier !== undefined) {
        // ECMA-119 7.5/7.6: a file's name and extension together (the separator not counted) at
        // most 30 bytes, a directory's identifier at most 31.
        const directory = entry.type === 'directory';
        const length = Buffer.byteLength(directory ? entry.identifier : entry.identifier.replace('.', ''));
        const limit = directory ? 31 : 30;
        if (length > limit)
          violate(
            entry.path,
            `ISO 9660 identifier "${entry.identifier}" longer than ${limit} bytes (conformance level 3)`,
          );
      }
      if (entry.path.split('/').some((part) => part === '..' || part === '.'))
        violate(entry.path, 'path traversal: no "." or ".." components');
      if (entry.type === 'symlink' && entry.target !== undefined) {
        if (entry.target.startsWith('/')) violate(entry.path, `absolute symlink to ${entry.target}`);
        else if (posix.normalize(posix.join(posix.dirname(entry.path), entry.target)).startsWith('..'))
          violate(entry.path, `symlink to ${entry.target} leaves the archive`);
      }
    }

    const productText = await text('product.txt');
    const product = parseProduct(productText ?? '');
    const name = product.get('NAME');
    const version = product.get('VERSION');
    if (productText !== undefined) {
      if (!name) violate('product.txt', 'NAME is missing');
      if (!version) violate('product.txt', 'VERSION is missing');
      else if (!semver.valid(version)) violate('product.txt', `VERSION "${version}" is not a semantic version`);
      const required = product.get('REQUIRE_METALK8S');
      if (!required) violate('product.txt', 'REQUIRE_METALK8S is missing');
      else if (!semver.validRange(required))
        violate('product.txt', `REQUIRE_METALK8S "${required}" is not a semver range`);
      if (product.get('ARCHIVE_LAYOUT_VERSION') !== '1')
        violate(
          'product.txt',
          `ARCHIVE_LAYOUT_VERSION is "${product.get('ARCHIVE_LAYOUT_VERSION') ?? ''}", expected 1`,
        );
      if (name && version && info.volumeId !== `${name} ${version}`)
        violate('/', `volume id "${info.volumeId}" is not "${name} ${version}" (NAME VERSION)`);
    }

    for (const path of OPERATOR_FILES) {
      const content = await text(path);
      if (content !== undefined) yamlErrors(path, content, violate);
    }
    // A UI is optional ("If providing a UI"): a Solution that has ui/ must have its deployment.
    if (entries.has('ui')) {
      const content = await text(UI_FILE);
      if (content !== undefined) yamlErrors(UI_FILE, content, violate);
    }
    const crds = info.entries.filter(
      (entry) => entry.path.startsWith('operator/deploy/crds/') && entry.type === 'file',
    );
    if (crds.length === 0) violate('operator/deploy/crds/', 'no CRD manifest (*.yaml)');
    for (const crd of crds) {
      if (!crd.path.endsWith('.yaml')) violate(crd.path, 'CRD manifests are *.yaml files');
      else yamlErrors(crd.path, (await read(crd)).toString('utf8'), violate);
    }
    if (!entries.has('registry-config.inc.j2'))
      violate(
        'registry-config.inc.j2',
        'missing: the nginx registry configuration of the images (toolkit registry-config)',
      );

    // images/<name>/<tag>/: a manifest, whose blobs are present with their digest as name.
    const manifests = info.entries.filter((entry) => /^images\/.+\/[^/]+\/manifest\.json$/.test(entry.path));
    if (!entries.has('images')) violate('images/', 'missing');
    for (const manifest of manifests) {
      const dir = posix.dirname(manifest.path);
      let json: { config?: { digest?: string }; layers?: { digest?: string }[]; manifests?: unknown };
      try {
        json = JSON.parse((await read(manifest)).toString('utf8')) as typeof json;
      } catch {
        violate(manifest.path, 'not JSON');
        continue;
      }
      if (!entries.has(`${dir}/version`)) violate(`${dir}/version`, 'missing (skopeo dir: layout)');
      const wanted = json.manifests ? [] : [json.config?.digest, ...(json.layers ?? []).map((layer) => layer.digest)];
      for (const digest of wanted) {
        const blob = entries.get(`${dir}/${digestHex(String(digest))}`);
        if (!blob)
          violate(`${dir}/${digestHex(String(digest))}`, `blob ${String(digest)} named by manifest.json is missing`);
      }
      for (const entry of info.entries) {
        const blob = /^([0-9a-f]{64})$/.exec(posix.basename(entry.path));
        if (posix.dirname(entry.path) !== dir || !blob || entry.type !== 'file') continue;
        const hash = createSha256();
        for await (const chunk of reader.extentStream(entry)) hash.update(chunk);
        if (hash.digest('hex') !== blob[1]) violate(entry.path, 'content does not match its digest name');
      }
    }
    return { ...(name ? { name } : {}), ...(version ? { version } : {}), violations };
  } finally {
    await reader.close();
  }
}

function yamlErrors(path: string, content: string, violate: (path: string, rule: string) => void): void {
  for (const document of parseAllDocuments(content)) {
    for (const error of document.errors) violate(path, `invalid YAML: ${error.message.split('\n')[0]}`);
  }
}
