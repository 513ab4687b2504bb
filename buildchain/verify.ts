// ./toolkit.ts verify: what an operator checks before importing an ISO it was handed: the ISO's
// sha256 against SHA256SUM beside it and, given the release's public key, the signature of
// SHA256SUM (SHA256SUM.asc). Every mismatch names the file.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BuildError } from './errors.ts';
import { sha256File } from './fs/hash.ts';
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
  let text: string;
  try {
    text = await readFile(sums, 'utf8');
  } catch {
    throw new BuildError(`${sums}: cannot read the checksum file (give it with --sums)`);
  }
  const name = basename(iso);
  const listed = text.split('\n').map((line) => /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim())).find((match) => match?.[2] === name);
  if (!listed) throw new BuildError(`${sums}: lists no checksum for ${name}`);
  const actual = await sha256File(iso);
  if (actual !== listed[1]) throw new BuildError(`${iso}: sha256 ${actual} does not match ${sums} (${listed[1]})`);
  const checked = [`${name}: sha256 ${actual} matches ${basename(sums)}`];
  if (options.publicKey) {
    if (!existsSync(`${sums}.asc`)) throw new BuildError(`${sums}.asc: no signature beside ${basename(sums)} (the release is signed when GPG_KEY is set)`);
    await verifyDetached(sums, `${sums}.asc`, options.publicKey, options.gpg, options.signal);
    checked.push(`${basename(sums)}: signature good (${basename(sums)}.asc, key ${options.publicKey})`);
  }
  return checked;
}
