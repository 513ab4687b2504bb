// The packages bootstrap.sh checks before it installs anything, as upstream's check reads them
// from the ISO's salt/metalk8s/versions.json: every package of the OS's list, as yum names it,
// `name-version` when versions.json pins it, `name` alone when it leaves it free (a null version:
// any version the repositories hold will do, and the check is that one is there).
import { readFileSync } from 'node:fs';
import { BuildError } from '../buildchain/errors.ts';

export const PACKAGE_OSES = ['centos', 'redhat'] as const;
export type PackageOs = (typeof PACKAGE_OSES)[number];

export function mandatoryPackages(file: string, os: PackageOs): string[] {
  let versions: unknown;
  try {
    versions = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BuildError(`${file}: ${code ? `cannot be read (${code})` : `not JSON (${(error as Error).message})`}`);
  }
  const packages = (versions as { packages?: Record<string, unknown> } | null)?.packages?.[os];
  if (packages === undefined) return [];
  if (packages === null || typeof packages !== 'object' || Array.isArray(packages))
    throw new BuildError(`${file}: packages.${os} must map package names to {"version": ...}`);
  return Object.entries(packages).map(([name, info]) => {
    if (info !== null && (typeof info !== 'object' || Array.isArray(info)))
      throw new BuildError(`${file}: packages.${os}.${name} must be {"version": ...} or null`);
    const version = (info as { version?: unknown } | null)?.version;
    if (version === null || version === undefined || version === '') return name; // free, as upstream reads it
    if (typeof version !== 'string')
      throw new BuildError(`${file}: packages.${os}.${name}.version must be a version string or null`);
    return `${name}-${version}`;
  });
}
