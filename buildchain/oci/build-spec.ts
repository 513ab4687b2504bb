// Image definitions (images/<name>/image.yaml): what the daemonless builder (builder.ts) builds,
// checked against image.schema.json and read here, each error naming the file, line and field.
import { dirname, join, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { repositorySource, type RepositoryEntry } from '../rpm/declarations.ts';
import { readDeclarations } from '../schema/yaml.ts';
import type { AccountRequest } from './accounts.ts';
import validateImage from './image.validate.cjs';
import type { LayerPackage, LayerSource } from './layer.ts';
import type { Platform } from './media-types.ts';
import { DEFAULT_PLATFORM, parsePlatform } from './pull.ts';
import { parseReference, type ImageReference } from './reference.ts';

export interface BuildSpec {
  file: string;
  name: string;
  version: string;
  base?: ImageReference & { digest: string };
  platform: Platform;
  layers: LayerSource[];
  /** The image config fields a build sets (the OCI/Docker names image.schema.json allows). */
  config: Record<string, unknown>;
}

/** image.yaml's shape: what the loader reads once the schema has checked it. */
interface ImageFile {
  name: string;
  version: string;
  base?: string;
  platform?: string;
  layers?: {
    directory?: string;
    to?: string;
    files?: { from: string; to: string; mode?: string | number }[];
    rpms?: string[];
    packages?: (string | LayerPackage)[];
    repositories?: (string | RepositoryEntry)[];
    users?: (string | AccountRequest)[];
  }[];
  config?: BuildSpec['config'];
}

/**
 * Reads an image build definition (YAML). Its shape is image.schema.json's to check; here, paths
 * resolve beside the file, references parse, modes are read as octal.
 */
export function loadBuildSpec(file: string): BuildSpec {
  const doc = readDeclarations(file, validateImage) as ImageFile;
  const dir = dirname(resolve(file));
  let base: BuildSpec['base'];
  if (doc.base !== undefined && doc.base !== 'scratch') {
    const ref = parseReference(doc.base, `${file}: base`);
    base = { ...ref, digest: ref.digest! };
  }
  const layers = (doc.layers ?? []).map((layer, index): LayerSource => {
    const where = `${file}: layers[${index}]`;
    const named = <T extends { name: string }>(entry: string | T): T | { name: string } =>
      typeof entry === 'string' ? { name: entry } : entry;
    return {
      ...(layer.directory !== undefined ? { directory: join(dir, layer.directory) } : {}),
      ...(layer.to !== undefined ? { to: layer.to } : {}),
      ...(layer.files
        ? {
            files: layer.files.map((entry, i) => {
              const mode = entry.mode === undefined ? undefined : parseMode(entry.mode, `${where}.files[${i}].mode`);
              return { from: join(dir, entry.from), to: entry.to, ...(mode !== undefined ? { mode } : {}) };
            }),
          }
        : {}),
      ...(layer.rpms ? { rpms: layer.rpms.map((rpm) => join(dir, rpm)) } : {}),
      ...(layer.packages ? { packages: layer.packages.map(named) } : {}),
      ...(layer.repositories
        ? {
            repositories: layer.repositories.map((entry) =>
              typeof entry === 'string' ? entry : repositorySource(entry),
            ),
          }
        : {}),
      ...(layer.users ? { users: layer.users.map(named) } : {}),
    };
  });
  return {
    file,
    name: doc.name,
    version: doc.version,
    ...(base ? { base } : {}),
    platform: doc.platform === undefined ? DEFAULT_PLATFORM : parsePlatform(doc.platform, `${file}: platform`),
    layers,
    config: doc.config ?? {},
  };
}

function parseMode(value: unknown, where: string): number {
  // YAML 1.2 reads an unquoted 0755 as the decimal 755: its digits are the octal mode meant.
  const text = String(value);
  if (!/^0?[0-7]{3,4}$/.test(text)) throw new BuildError(`${where}: "${String(value)}" is not an octal mode like 0755`);
  return Number.parseInt(text, 8);
}
