// Packages built from spec files with rpmbuild, in a private _topdir, for el7: dist tag .el7 and
// settings el7's rpm 4.11 can read (gzip payloads, sha256 file digests), with build times and
// file times from SOURCE_DATE_EPOCH when set. Build dependencies are the spec's business
// (--nodeps): the build host is not an el7 system with an rpm database of its own.
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { BuildError } from '../errors.ts';
import { runTool } from '../tools.ts';
import type { SpecPackage } from './declarations.ts';

export const DIST = '.el7';

export interface RpmbuildOptions {
  rpmbuild: string;
  topdir: string;
  sourceDateEpoch?: number | undefined;
  signal: AbortSignal;
}

function defines(options: RpmbuildOptions): string[] {
  const macros: Record<string, string> = {
    _topdir: options.topdir,
    dist: DIST,
    _binary_payload: 'w9.gzdio',
    _source_payload: 'w9.gzdio',
    _binary_filedigest_algorithm: '8',
    _source_filedigest_algorithm: '8',
    _buildhost: 'metalk8s-buildchain',
    ...(options.sourceDateEpoch !== undefined
      ? { use_source_date_epoch_as_buildtime: '1', clamp_mtime_to_source_date_epoch: '1' }
      : {}),
  };
  return Object.entries(macros).flatMap(([name, value]) => ['--define', `${name} ${value}`]);
}

async function run(options: RpmbuildOptions, args: string[], what: string): Promise<void> {
  const env = {
    ...process.env,
    ...(options.sourceDateEpoch !== undefined ? { SOURCE_DATE_EPOCH: String(options.sourceDateEpoch) } : {}),
  };
  await runTool(options.rpmbuild, [...defines(options), '--nodeps', ...args], { signal: options.signal, env, what });
}

/** The source package, checked to be the declared name-version-release. */
export async function buildSrpm(pkg: SpecPackage, options: RpmbuildOptions): Promise<string> {
  await run(options, ['-bs', pkg.spec], pkg.spec);
  const expected = `${pkg.name}-${pkg.version}-${pkg.release}${DIST}.src.rpm`;
  const built = await readdir(join(options.topdir, 'SRPMS'));
  if (!built.includes(expected)) {
    throw new BuildError(
      `${pkg.spec}: built ${built.join(', ') || 'nothing'}, but the declaration says ${expected} (name, version and release must agree)`,
    );
  }
  return join(options.topdir, 'SRPMS', expected);
}

/** The binary packages rebuilt from a source package: their paths. */
export async function buildRpms(srpm: string, options: RpmbuildOptions): Promise<string[]> {
  await run(options, ['--rebuild', srpm], srpm);
  const root = join(options.topdir, 'RPMS');
  const found: string[] = [];
  for (const arch of (await readdir(root)).sort()) {
    for (const file of (await readdir(join(root, arch))).sort())
      if (file.endsWith('.rpm')) found.push(join(root, arch, file));
  }
  if (found.length === 0) throw new BuildError(`${srpm}: rpmbuild --rebuild made no package`);
  return found;
}

/**
 * The list of the packages a spec build made, as written beside them: paths relative to the list's
 * folder, so that the same list holds in any build root (and is shared as is by the build cache).
 */
export function formatBuiltList(list: string, rpms: readonly string[]): string {
  return `${rpms.map((rpm) => relative(dirname(list), rpm)).join('\n')}\n`;
}

/** The packages a built list names, as absolute paths (a list of absolute paths, written before, still reads). */
export async function readBuiltList(list: string): Promise<string[]> {
  return (await readFile(list, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => resolve(dirname(list), line));
}
