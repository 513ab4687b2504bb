// Build settings: defaults, overridden by `.env` at the project root, overridden by the
// environment (as upstream's python-decouple did). Upstream's names are kept.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseDotenv, type EnvEntry } from '../buildchain/dotenv.ts';
import { readSourceRecord, sourceRecordFile } from '../buildchain/sources/record.ts';
import { BuildError } from '../buildchain/errors.ts';
import { schemaProblems } from '../buildchain/schema/validate.ts';
import settingsSchema from './settings.schema.json' with { type: 'json' };
import validateSettings from './settings.validate.cjs';
import * as builtins from '../buildchain/builtins.ts';
import { parseCacheRegistry, type CacheMode, type CacheSettings } from '../buildchain/cache/settings.ts';
import type { HttpTimeouts } from '../buildchain/http.ts';

/**
 * Every setting, its default and what it is for (tasks/README.md's configuration table), and the
 * rule its value follows where it has one: settings.schema.json, the one table of them.
 */
export const SETTINGS = settingsSchema.properties;

export type SettingName = keyof typeof SETTINGS;

const defaultOf = (name: SettingName): string => SETTINGS[name].default;

export interface Version {
  major: number;
  minor: number;
  patch: number;
  suffix: string;
  /** e.g. 2.4.1-dev */
  full: string;
  /** e.g. 2.4 */
  short: string;
}

export interface ProductSource {
  /** A git URL, or the absolute path of a local repository. */
  url: string;
  commit: string;
  /** Where the build unpacks it: BUILD_ROOT/product-source. */
  tree: string;
  /** Which stored archive holds which commit: BUILD_ROOT/sources/metalk8s.json. */
  record: string;
}

/** What an ISO says it is: the product's version and source revision (product.txt, volume id, saltenv). */
export interface ProductVersion {
  version: Version;
  /** product.txt's GIT: `git describe --always --long --tags` of the commit built from. */
  git: string;
}

export interface BuildConfig {
  root: string;
  projectName: string;
  buildRoot: string;
  /** The ISO tree: BUILD_ROOT/root. */
  isoRoot: string;
  vagrant: { provider: string; upArgs: string[]; snapshotName: string; nodes: number };
  bin: {
    docker: string;
    git: string;
    hardlink: string;
    mkisofs: string;
    skopeo: string;
    vagrant: string;
    rpmbuild: string;
    createrepo: string;
    gpg: string;
    shellcheck: string;
    yamllint: string;
    sphinxBuild: string;
    latexmk: string;
  };
  sourceDateEpoch: number | undefined;
  imagesFile: string;
  packagesFile: string;
  runtimeFile: string;
  npmRegistry: string;
  sourcesMirror: string | undefined;
  buildHost: string;
  /** The signing key, when one is configured. */
  gpgKey: string | undefined;
  pullJobs: number;
  /** HTTP_CONNECT_TIMEOUT, HTTP_HEADER_TIMEOUT, HTTP_IDLE_TIMEOUT, for every download. */
  httpTimeouts: HttpTimeouts;
  registryMirrors: ReadonlyMap<string, string>;
  /** PUBLISH_REGISTRY without trailing slashes: `host[:port][/namespace]`; undefined when unset. */
  publishRegistry: string | undefined;
  /** Lowercased repository name -> mirror base URL. */
  yumMirrors: ReadonlyMap<string, string>;
  /** The build chain's own version (this repository's VERSION): the toolkit's, the agent's, BUILDCHAIN_VERSION. */
  version: Version;
  versionFile: string;
  /** This repository's `git describe --always --long --tags --dirty`, or undefined without git; computed once, on demand. */
  gitRef(): string | undefined;
  /**
   * The product's VERSION file: the product source's (BUILD_ROOT/product-source/VERSION, there
   * once _product_source has run), or ours with METALK8S_SOURCE=none.
   */
  productVersionFile: string;
  /**
   * The version the ISO gets, read from productVersionFile on each call: a task reads it once
   * the source is unpacked (created after _product_source, or in its action), never before.
   */
  productVersion(): ProductVersion;
  /** The values of `@@NAME` in the project's templates (`*.in`, image versions), the product's version included. */
  templateValues(): Readonly<Record<string, string>>;
  /** Where a setting's value came from: `.env:3`, `environment`, or `default`. */
  origin(name: string): string;
  /** The product's own repository at its pinned commit; undefined with METALK8S_SOURCE=none. */
  product: ProductSource | undefined;
  /** CACHE_REGISTRY and CACHE_MODE; undefined when no cache is set. */
  cache: CacheSettings | undefined;
  /** Non-fatal remarks (unknown .env keys). */
  warnings: string[];
}

export function loadConfig(root: string, env: NodeJS.ProcessEnv = process.env): BuildConfig {
  const envFile = join(root, '.env');
  let dotenv = new Map<string, EnvEntry>();
  try {
    dotenv = parseDotenv(readFileSync(envFile, 'utf8'), envFile, {
      environment: (name) => env[name],
      defaults: (name) => (name in SETTINGS ? defaultOf(name as SettingName) : undefined),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const lookup = (name: string): { value: string; origin: string } | undefined => {
    const fromEnv = env[name];
    if (fromEnv !== undefined) return { value: fromEnv, origin: `environment variable ${name}` };
    return dotenv.get(name);
  };
  const get = (name: SettingName): string => lookup(name)?.value ?? defaultOf(name);
  const origin = (name: string): string => lookup(name)?.origin ?? 'default';
  const seconds = (name: SettingName): number => Math.round(Number(get(name)) * 1000);
  const warnings = checkSettings(dotenv, lookup);

  const buildRootSetting = get('BUILD_ROOT');
  const buildRoot = isAbsolute(buildRootSetting) ? buildRootSetting : resolve(root, buildRootSetting);
  const provider = get('VAGRANT_PROVIDER');
  const upArgs = get('VAGRANT_UP_ARGS') || `--provision --no-destroy-on-error --parallel --provider ${provider}`;

  const versionFile = join(root, 'VERSION');
  let version: Version | undefined;
  let gitRef: string | undefined | null = null;
  const gitBin = get('GIT_BIN');
  const product = parseProductSource(root, buildRoot, get('METALK8S_SOURCE'), get('METALK8S_COMMIT'));
  const productVersionFile = product ? join(product.tree, 'VERSION') : versionFile;
  const productVersion = (): ProductVersion =>
    product ? readProductVersion(product, productVersionFile) : { version: config.version, git: config.gitRef() ?? '' };

  const config: BuildConfig = {
    root,
    projectName: get('PROJECT_NAME'),
    buildRoot,
    isoRoot: join(buildRoot, 'root'),
    vagrant: {
      provider,
      upArgs: splitWords(upArgs, origin('VAGRANT_UP_ARGS')),
      snapshotName: get('VAGRANT_SNAPSHOT_NAME'),
      nodes: Number(get('VAGRANT_NODES').trim()),
    },
    bin: {
      docker: get('DOCKER_BIN'),
      git: gitBin,
      hardlink: get('HARDLINK_BIN'),
      mkisofs: get('MKISOFS_BIN'),
      skopeo: get('SKOPEO_BIN'),
      vagrant: get('VAGRANT_BIN'),
      rpmbuild: get('RPMBUILD_BIN'),
      createrepo: get('CREATEREPO_BIN'),
      gpg: get('GPG_BIN'),
      shellcheck: get('SHELLCHECK_BIN'),
      yamllint: get('YAMLLINT_BIN'),
      sphinxBuild: get('SPHINX_BUILD_BIN'),
      latexmk: get('LATEXMK_BIN'),
    },
    sourceDateEpoch: parseEpoch(get('SOURCE_DATE_EPOCH')),
    imagesFile: resolve(root, get('IMAGES_FILE')),
    packagesFile: resolve(root, get('PACKAGES_FILE')),
    runtimeFile: resolve(root, get('RUNTIME_FILE')),
    npmRegistry: get('NPM_REGISTRY').replace(/\/+$/, ''),
    gpgKey: get('GPG_KEY') || undefined,
    buildHost: get('BUILD_HOST') || builtins.os().hostname(),
    sourcesMirror: get('SOURCES_MIRROR').replace(/\/+$/, '') || undefined,
    pullJobs: Number(get('PULL_JOBS')),
    httpTimeouts: {
      connectMs: seconds('HTTP_CONNECT_TIMEOUT'),
      headerMs: seconds('HTTP_HEADER_TIMEOUT'),
      idleMs: seconds('HTTP_IDLE_TIMEOUT'),
    },
    registryMirrors: parsePairs(get('REGISTRY_MIRRORS'), origin('REGISTRY_MIRRORS'), 'REGISTRY_MIRRORS'),
    publishRegistry: get('PUBLISH_REGISTRY').trim().replace(/\/+$/, '') || undefined,
    yumMirrors: collectPrefixed('YUM_MIRROR_', env, dotenv),
    product,
    cache: parseCache(get('CACHE_REGISTRY'), get('CACHE_MODE'), origin),
    // Read on first use: a task file given with -f may live where there is no VERSION file.
    get version() {
      version ??= readVersionFile(versionFile);
      return version;
    },
    versionFile,
    gitRef() {
      if (gitRef === null) gitRef = describeGit(gitBin, root);
      return gitRef;
    },
    productVersionFile,
    productVersion,
    templateValues() {
      const { version } = productVersion();
      return {
        VERSION: version.full,
        SHORT_VERSION: version.short,
        PROJECT_NAME: config.projectName,
        PROJECT_NAME_LOWER: config.projectName.toLowerCase(),
      };
    },
    origin,
    warnings,
  };
  return config;
}

/** The product source's VERSION and recorded `git describe`; before it is unpacked, an error saying what to run. */
function readProductVersion(product: ProductSource, file: string): ProductVersion {
  const record = readSourceRecord(product.record);
  if (!existsSync(product.tree) || record?.commit !== product.commit)
    throw new BuildError(
      `${file}: the product's version comes from its source, not fetched yet at ${product.commit}: run ./build.ts _product_source first`,
    );
  return { version: readVersionFile(file), git: record.describe ?? '' };
}

/**
 * The settings given (.env lines, and known names in the environment) checked against
 * settings.schema.json: a value breaking its setting's rule is an error naming where it was set;
 * an unknown .env key only a warning (a .env is often shared with other tools' settings), naming
 * its line and the closest known keys.
 */
function checkSettings(
  dotenv: ReadonlyMap<string, EnvEntry>,
  lookup: (name: string) => { value: string; origin: string } | undefined,
): string[] {
  const given: Record<string, string> = {};
  for (const name of new Set([...dotenv.keys(), ...Object.keys(SETTINGS)])) {
    const value = lookup(name)?.value;
    if (value !== undefined) given[name] = value;
  }
  const warnings: string[] = [];
  for (const problem of schemaProblems(validateSettings, given)) {
    const name = String(problem.path[0]);
    const where = lookup(name)?.origin ?? name;
    if (!problem.unknown) throw new BuildError(`${where}: ${problem.message}`);
    const closest = problem.unknown.closest.map((key) => `'${key}'`).join(', ');
    warnings.push(
      `${where}: unknown setting ${name}${closest ? ` (did you mean ${closest}?)` : ` (known: ${Object.keys(SETTINGS).join(', ')}, YUM_MIRROR_<REPO>)`}`,
    );
  }
  return warnings;
}

/** The shared cache's settings, checked now: a typo is said before anything runs, naming where it was set. */
function parseCache(registry: string, mode: string, origin: (name: string) => string): CacheSettings | undefined {
  const checked = <T>(name: string, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      throw new BuildError(`${origin(name)}: ${(error as Error).message}`);
    }
  };
  if (!registry) return undefined;
  checked('CACHE_REGISTRY', () => parseCacheRegistry(registry));
  // settings.schema.json's enum has checked CACHE_MODE before any setting is read.
  return { registry, mode: mode as CacheMode };
}

export function readVersionFile(file: string): Version {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new BuildError(`${file}: cannot read the version file (${(error as Error).message})`);
  }
  const fields = parseDotenv(text, file);
  const number = (key: string): number => {
    const entry = fields.get(key);
    if (!entry) throw new BuildError(`${file}: ${key} is missing`);
    if (!/^\d+$/.test(entry.value))
      throw new BuildError(`${entry.origin}: ${key} must be a whole number, not '${entry.value}'`);
    return Number(entry.value);
  };
  const major = number('VERSION_MAJOR');
  const minor = number('VERSION_MINOR');
  const patch = number('VERSION_PATCH');
  const suffix = fields.get('VERSION_SUFFIX')?.value ?? '';
  if (suffix && !/^[-+][0-9A-Za-z.+-]*$/.test(suffix)) {
    throw new BuildError(
      `${fields.get('VERSION_SUFFIX')!.origin}: VERSION_SUFFIX must start with '-' or '+', not '${suffix}'`,
    );
  }
  return { major, minor, patch, suffix, full: `${major}.${minor}.${patch}${suffix}`, short: `${major}.${minor}` };
}

function describeGit(git: string, cwd: string): string | undefined {
  try {
    return (
      builtins
        .childProcess()
        .execFileSync(git, ['describe', '--always', '--long', '--tags', '--dirty'], {
          cwd,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        })
        .trim() || undefined
    );
  } catch {
    return undefined;
  }
}

function parseEpoch(value: string): number | undefined {
  return value === '' ? undefined : Number(value);
}

function parseProductSource(
  root: string,
  buildRoot: string,
  source: string,
  commit: string,
): ProductSource | undefined {
  if (source.trim() === 'none') return undefined;
  // scheme://..., user@host:path and host:path are git's remote forms; anything else is a path.
  const remote = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || /^[^/]+:/.test(source);
  return {
    url: remote ? source : resolve(root, source),
    commit,
    tree: join(buildRoot, 'product-source'),
    record: sourceRecordFile(buildRoot, 'metalk8s'),
  };
}

function parsePairs(value: string, origin: string, name: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const item of value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1)
      throw new BuildError(`${origin}: ${name} entry '${item}' is not SOURCE=MIRROR`);
    pairs.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return pairs;
}

function collectPrefixed(prefix: string, env: NodeJS.ProcessEnv, dotenv: Map<string, EnvEntry>): Map<string, string> {
  const found = new Map<string, string>();
  for (const [key, entry] of dotenv)
    if (key.startsWith(prefix)) found.set(key.slice(prefix.length).toLowerCase(), entry.value);
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(prefix) && value !== undefined) found.set(key.slice(prefix.length).toLowerCase(), value);
  }
  return found;
}

/** Splits a command line as a POSIX shell would split words (quotes, backslashes). */
export function splitWords(text: string, origin: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new BuildError(`${origin}: unterminated ${c} quote in '${text}'`);
      current += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}
