// ./toolkit.ts verify: what an operator checks before importing an ISO it was handed: the ISO's
// sha256 against SHA256SUM beside it; given the release's public key, the signature of
// SHA256SUM (SHA256SUM.asc) and of the provenance (<iso>.intoto.jsonl, whose subject must be this
// ISO); and inside the ISO (read without mounting), every image and package against
// sbom.spdx.json. Every mismatch names the file.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, verifyEnvelopeFile } from './dsse.ts';
import { BuildError } from '../errors.ts';
import { IsoReader } from '../iso9660/reader.ts';
import { createSha256, sha256File } from '../store/sha256.ts';
import { verifyDetached } from './openpgp.ts';

export interface VerifyOptions {
  /** SHA256SUM listing the ISO (default: the one beside it). */
  sums?: string;
  /** The release's public key: when given, SHA256SUM.asc must verify with it. */
  publicKey?: string;
  gpg: string;
  signal: AbortSignal;
}

/** Lines of what was checked; throws a BuildError naming the file that does not match. */
export async function verifyIso(iso: string, options: VerifyOptions): Promise<string[]> {
  const sums = options.sums ?? join(dirname(iso), 'SHA256SUM');
  const { sha256, checked } = await verifyChecksum(iso, sums);
  const contents = await verifyContents(iso);
  if (contents === undefined) throw new BuildError(`${iso}: no sbom.spdx.json at its root`);
  return [
    checked,
    contents,
    ...(options.publicKey
      ? await verifySignatures(iso, sha256, sums, { ...options, publicKey: options.publicKey })
      : []),
  ];
}

/** The ISO's sha256 against the line of `sums` naming it: the sha256, and the line saying it matched. */
export async function verifyChecksum(iso: string, sums: string): Promise<{ sha256: string; checked: string }> {
  const found = await stat(iso).catch(() => undefined);
  if (!found) throw new BuildError(`${iso}: no such file`);
  if (found.isDirectory()) throw new BuildError(`${iso}: is a directory, not an ISO`);
  let text: string;
  try {
    text = await readFile(sums, 'utf8');
  } catch {
    throw new BuildError(`${sums}: cannot read the checksum file for ${iso} (give it with --sums)`);
  }
  const name = basename(iso);
  const listed = listedSha256(text, name);
  if (!listed) throw new BuildError(`${sums}: lists no checksum for ${name}`);
  const actual = await sha256File(iso);
  if (actual !== listed) throw new BuildError(`${iso}: sha256 ${actual} does not match ${sums} (${listed})`);
  return { sha256: actual, checked: `${name}: sha256 ${actual} matches ${basename(sums)}` };
}

/**
 * The signature of `sums` (`<sums>.asc`, which must be there) with the release's key, then the
 * provenance beside the ISO when there is one; `sha256` is the ISO's, already checked against `sums`.
 */
export async function verifySignatures(
  iso: string,
  sha256: string,
  sums: string,
  options: VerifyOptions & { publicKey: string },
): Promise<string[]> {
  if (!existsSync(`${sums}.asc`))
    throw new BuildError(
      `${sums}.asc: no signature beside ${basename(sums)} (the release is signed when GPG_KEY is set)`,
    );
  await verifyDetached(sums, `${sums}.asc`, options.publicKey, options.gpg, options.signal);
  return [
    `${basename(sums)}: signature good (${basename(sums)}.asc, key ${options.publicKey})`,
    await verifyProvenance(iso, sha256, options),
  ];
}

/** The hex sha256 that a SHA256SUM text lists for `name` (`<hex>  name` or `<hex> *name`). */
export function listedSha256(text: string, name: string): string | undefined {
  return text
    .split('\n')
    .map((line) => /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim()))
    .find((match) => match?.[2] === name)?.[1];
}

/** The signed provenance beside the ISO (<iso>.intoto.jsonl), when there is one: signature and subject. */
async function verifyProvenance(
  iso: string,
  sha256: string,
  options: VerifyOptions & { publicKey: string },
): Promise<string> {
  const file = `${iso}.intoto.jsonl`;
  if (!existsSync(file)) return `${basename(file)}: none beside the ISO (the build writes it when GPG_KEY is set)`;
  const { payloadType, payload } = await verifyEnvelopeFile(file, options.publicKey, options.gpg, options.signal);
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new BuildError(`${file}: payload type is ${payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  let subjects: { name?: string; digest?: { sha256?: string } }[];
  try {
    subjects = (JSON.parse(payload.toString('utf8')) as { subject: typeof subjects }).subject;
    if (!Array.isArray(subjects)) throw new Error('no subject list');
  } catch (error) {
    throw new BuildError(`${file}: the signed payload is not an in-toto statement (${(error as Error).message})`);
  }
  if (!subjects.some((subject) => subject.digest?.sha256 === sha256))
    throw new BuildError(`${file}: the signed provenance is not about this ISO (no subject with sha256 ${sha256})`);
  return `${basename(file)}: provenance signature good, its subject is this ISO`;
}

interface SbomPackage {
  name: string;
  packageFileName: string;
  primaryPackagePurpose: string;
  checksums: { algorithm: string; checksumValue: string }[];
}

/**
 * Every image (manifest and blobs, or archive) and package the ISO's SBOM lists, hashed in place;
 * undefined when the ISO has no sbom.spdx.json (one our chain did not build).
 */
export async function verifyContents(iso: string): Promise<string | undefined> {
  const reader = await IsoReader.open(iso);
  try {
    const entries = new Map((await reader.list()).entries.map((entry) => [entry.path, entry]));
    const hash = async (path: string): Promise<string> => {
      const entry = entries.get(path);
      if (!entry || entry.type !== 'file') throw new BuildError(`${iso}: ${path} is missing`);
      const digest = createSha256();
      for await (const chunk of reader.extentStream(entry)) digest.update(chunk);
      return digest.digest('hex');
    };
    const sbom = entries.get('sbom.spdx.json');
    if (!sbom) return undefined;
    const sbomBytes = await reader.readFile(sbom);
    let packages: SbomPackage[];
    try {
      packages = (JSON.parse(sbomBytes.toString('utf8')) as { packages: SbomPackage[] }).packages;
      if (!Array.isArray(packages)) throw new Error('no "packages" list');
    } catch (error) {
      throw new BuildError(`${iso}: sbom.spdx.json is not an SPDX document (${(error as Error).message})`);
    }
    let files = 0;
    const expect = async (path: string, sha256: string, what: string) => {
      const actual = await hash(path);
      files += 1;
      if (actual !== sha256) throw new BuildError(`${iso}: ${path} has sha256 ${actual}, but ${what} says ${sha256}`);
    };
    for (const pkg of packages) {
      if (pkg.primaryPackagePurpose === 'SOURCE') continue; // what the ISO was built from, not a file of it
      const sha256 = pkg.checksums.find((checksum) => checksum.algorithm === 'SHA256')?.checksumValue ?? '';
      const layout = pkg.primaryPackagePurpose === 'CONTAINER' && !pkg.packageFileName.endsWith('.tar');
      if (!layout) {
        await expect(pkg.packageFileName, sha256, `sbom.spdx.json (${pkg.name})`);
        continue;
      }
      // A layout: its manifest is the pinned digest, each blob and child manifest is named by its own.
      await expect(`${pkg.packageFileName}/manifest.json`, sha256, `sbom.spdx.json (${pkg.name})`);
      for (const path of entries.keys()) {
        const file = /^([0-9a-f]{64})(\.manifest\.json)?$/.exec(path.slice(pkg.packageFileName.length + 1));
        if (path.startsWith(`${pkg.packageFileName}/`) && file) await expect(path, file[1]!, 'its name');
      }
    }
    const contents = packages.filter((pkg) => pkg.primaryPackagePurpose !== 'SOURCE').length;
    return `${contents} images and packages of sbom.spdx.json match their ${files} files in the ISO`;
  } finally {
    await reader.close();
  }
}
