// OpenPGP signatures of what we build: packages (rpmsign, the signature inside the RPM header)
// and repository metadata (a detached, armored repodata/repomd.xml.asc, as yum's repo_gpgcheck
// reads it), with the key GPG_KEY names in the keyring GNUPGHOME selects. With SOURCE_DATE_EPOCH,
// gpg signs at that time, so RSA and EdDSA signatures (deterministic) are byte-reproducible.
import { execFile } from 'node:child_process';
import { BuildError } from '../errors.ts';

export interface Signer {
  gpg: string;
  rpmsign: string;
  key: string;
  sourceDateEpoch?: number | undefined;
  signal: AbortSignal;
}

function run(file: string, args: string[], signal: AbortSignal, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { signal }, (error, _stdout, stderr) => {
      if (error) reject(new BuildError(`${what}: ${file} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

// A key made after SOURCE_DATE_EPOCH cannot sign at that time (its signatures would predate it,
// and verifiers refuse them): gpg then fails with "created ... in the future", which we show.
const fakedTime = (signer: Signer) => (signer.sourceDateEpoch !== undefined ? ['--faked-system-time', `${signer.sourceDateEpoch}!`] : []);

/** Adds our signature to each package, in place. */
export async function signPackages(files: readonly string[], signer: Signer): Promise<void> {
  if (files.length === 0) return;
  await run(signer.rpmsign, [
    '--addsign', '--define', `_gpg_name ${signer.key}`, '--define', `__gpg ${signer.gpg}`,
    '--define', `_gpg_sign_cmd_extra_args --batch --pinentry-mode error ${fakedTime(signer).join(' ')}`,
    ...files,
  ], signer.signal, `signing ${files.length} package(s) with key ${signer.key}`);
}

/** Writes `<file>.asc`, an armored detached signature. */
export async function signDetached(file: string, signer: Signer): Promise<void> {
  await run(signer.gpg, [
    '--batch', '--yes', '--pinentry-mode', 'error', ...fakedTime(signer),
    '--local-user', signer.key, '--armor', '--detach-sign', '--output', `${file}.asc`, file,
  ], signer.signal, `signing ${file} with key ${signer.key}`);
}
