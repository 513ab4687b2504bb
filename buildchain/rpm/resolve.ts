// Dependency closure of the declared packages over yum repositories, as `yumdownloader
// --resolve` on an empty system: every requirement of every chosen package is satisfied by a
// chosen package, or by one of the names declared as already on the target OS.
import { BuildError } from '../errors.ts';
import { nevra, type RpmPackage } from './metadata.ts';
import { compareEvr, formatCapability, satisfies, type Capability } from './vercmp.ts';

export const ARCHES: ReadonlySet<string> = new Set(['x86_64', 'noarch']);

export interface PackageRequest {
  name: string;
  /** `version` or `version-release`; newest when absent. */
  version?: string | undefined;
  /** Where the request was declared, for error messages. */
  where: string;
}

export interface ResolveInput {
  packages: readonly RpmPackage[];
  /** Repository name -> priority (lower wins). */
  priorities: ReadonlyMap<string, number>;
  requests: readonly PackageRequest[];
  /** Names the target OS already has: requirements they satisfy are not followed. */
  exclude?: ReadonlySet<string>;
  /** How a missing requested name's error calls the repositories (default: "the repositories"). */
  within?: string;
  /** Owners (package checksums) of file paths not listed in primary.xml, asked in batches. */
  fileOwners?: (paths: ReadonlySet<string>) => Promise<Map<string, string[]>>;
}

const evrOf = (pkg: RpmPackage) => ({ epoch: pkg.epoch, version: pkg.version, release: pkg.release });

/** Newest first; ties broken by repository priority, then arch (x86_64 before noarch). */
function better(priorities: ReadonlyMap<string, number>) {
  return (a: RpmPackage, b: RpmPackage): number => {
    const evr = compareEvr(evrOf(b), evrOf(a));
    if (evr !== 0) return evr;
    const priority = (priorities.get(a.repo) ?? 99) - (priorities.get(b.repo) ?? 99);
    if (priority !== 0) return priority;
    return a.arch === b.arch ? 0 : a.arch === 'x86_64' ? -1 : 1;
  };
}

/**
 * Picks among the packages satisfying one requirement: the requirement's own name when a package
 * has it, else the alphabetically first providing name (deterministic); within the name, only the
 * best-priority repositories count (yum's priorities), and the newest version wins.
 */
function choose(candidates: RpmPackage[], wanted: string, priorities: ReadonlyMap<string, number>): RpmPackage {
  const names = [...new Set(candidates.map((pkg) => pkg.name))].sort();
  const name = names.includes(wanted) ? wanted : names[0]!;
  const sameName = candidates.filter((pkg) => pkg.name === name);
  const best = Math.min(...sameName.map((pkg) => priorities.get(pkg.repo) ?? 99));
  return sameName.filter((pkg) => (priorities.get(pkg.repo) ?? 99) === best).sort(better(priorities))[0]!;
}

export async function resolveClosure(input: ResolveInput): Promise<RpmPackage[]> {
  const packages = input.packages.filter((pkg) => ARCHES.has(pkg.arch));
  // What provides each name: the packages' own names and their provides. The file and checksum
  // indexes are made only when a requirement names a file (many closures have none).
  const byProvide = new Map<string, RpmPackage[]>();
  const byName = new Map<string, RpmPackage[]>();
  const index = (map: Map<string, RpmPackage[]>, key: string, pkg: RpmPackage) => {
    const list = map.get(key);
    if (list === undefined) map.set(key, [pkg]);
    else if (list[list.length - 1] !== pkg) list.push(pkg);
  };
  for (const pkg of packages) {
    index(byName, pkg.name, pkg);
    index(byProvide, pkg.name, pkg);
    for (const cap of pkg.provides) index(byProvide, cap.name, pkg);
  }
  let files: { byFile: Map<string, RpmPackage[]>; byChecksum: Map<string, RpmPackage> } | undefined;
  const fileIndex = () => {
    if (files) return files;
    files = { byFile: new Map(), byChecksum: new Map() };
    for (const pkg of packages) {
      files.byChecksum.set(pkg.checksum.value, pkg);
      for (const file of pkg.files) index(files.byFile, file, pkg);
    }
    return files;
  };
  /** Whether `pkg` provides what `req` asks, by its own name and version or by one of its provides. */
  const provides = (pkg: RpmPackage, req: Capability): boolean => {
    if (pkg.name === req.name && satisfies({ name: pkg.name, flags: 'EQ', evr: evrOf(pkg) }, req)) return true;
    for (const cap of pkg.provides) if (cap.name === req.name && satisfies(cap, req)) return true;
    return false;
  };
  const exclude = input.exclude ?? new Set<string>();
  const chosen = new Set<RpmPackage>();
  const queue: RpmPackage[] = [];
  const add = (pkg: RpmPackage) => {
    if (chosen.has(pkg)) return;
    chosen.add(pkg);
    queue.push(pkg);
  };

  for (const request of input.requests) {
    const named = byName.get(request.name) ?? [];
    const matches = named.filter(
      (pkg) =>
        request.version === undefined ||
        pkg.version === request.version ||
        `${pkg.version}-${pkg.release}` === request.version,
    );
    if (matches.length === 0) {
      const versions = named.map((pkg) => `${pkg.version}-${pkg.release}`);
      throw new BuildError(
        `${request.where}: no package ${request.name}${request.version ? ` ${request.version}` : ''} in ${input.within ?? 'the repositories'}` +
          (versions.length > 0 ? ` (versions there: ${[...new Set(versions)].join(', ')})` : ''),
      );
    }
    add(choose(matches, request.name, input.priorities));
  }

  const ownedFiles = new Map<string, RpmPackage[]>();
  let waiting: { pkg: RpmPackage; req: Capability }[] = [];
  const providers = (req: Capability): RpmPackage[] | undefined => {
    if (req.name.startsWith('/')) {
      const owners = [...(fileIndex().byFile.get(req.name) ?? []), ...(ownedFiles.get(req.name) ?? [])];
      return owners.length > 0 ? owners : undefined;
    }
    return (byProvide.get(req.name) ?? []).filter((pkg) => provides(pkg, req));
  };
  const follow = (pkg: RpmPackage, req: Capability, lastChance: boolean): void => {
    if (req.name.startsWith('rpmlib(')) return; // provided by rpm itself
    if (req.name.startsWith('('))
      throw new BuildError(
        `${nevra(pkg)} (repository ${pkg.repo}) requires ${req.name}: rich dependencies are not supported`,
      );
    const candidates = providers(req);
    if (candidates === undefined && !lastChance) {
      waiting.push({ pkg, req });
      return;
    }
    if (!candidates || candidates.length === 0) {
      throw new BuildError(
        `${nevra(pkg)} (repository ${pkg.repo}) requires ${formatCapability(req)}, which no package of the repositories provides`,
      );
    }
    if (candidates.some((candidate) => chosen.has(candidate) || exclude.has(candidate.name))) return;
    add(choose(candidates, req.name, input.priorities));
  };

  for (;;) {
    while (queue.length > 0) {
      const pkg = queue.shift()!;
      for (const req of pkg.requires) follow(pkg, req, false);
    }
    if (waiting.length === 0) break;
    // File dependencies primary.xml does not list: ask filelists for all of them at once.
    const pending = waiting;
    waiting = [];
    const paths = new Set(pending.map((entry) => entry.req.name).filter((name) => !ownedFiles.has(name)));
    if (paths.size > 0 && input.fileOwners) {
      const owners = await input.fileOwners(paths);
      for (const path of paths) {
        ownedFiles.set(
          path,
          (owners.get(path) ?? [])
            .map((id) => fileIndex().byChecksum.get(id))
            .filter((pkg): pkg is RpmPackage => pkg !== undefined),
        );
      }
    }
    for (const { pkg, req } of pending) follow(pkg, req, true);
  }
  const named = [...chosen].map((pkg) => ({ pkg, key: nevra(pkg) }));
  return named.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(({ pkg }) => pkg);
}

/** The owners of file paths over several repositories, each answering for itself, merged. */
export async function ownersAcross<R>(
  repositories: readonly R[],
  ownersIn: (repository: R) => Promise<Map<string, string[]>>,
): Promise<Map<string, string[]>> {
  const owners = new Map<string, string[]>();
  for (const repository of repositories) {
    for (const [path, ids] of await ownersIn(repository)) owners.set(path, [...(owners.get(path) ?? []), ...ids]);
  }
  return owners;
}
