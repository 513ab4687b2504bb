// OpenPGP signatures with gpg: the key GPG_KEY names in the keyring GNUPGHOME selects, batch mode,
// never a prompt. With SOURCE_DATE_EPOCH, gpg signs at that time, so RSA and EdDSA signatures
// (deterministic) are byte-reproducible. A key younger than that time cannot sign at it (its
// signatures would predate it, and verifiers refuse them): gpg then fails with "created ... in the
// future", which we show.
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withAtomicFile } from '../fs/atomic.ts';
import { withScratchDir } from '../fs/scratch.ts';
import { requireExecutable, runTool } from '../tools.ts';

export interface Signer {
  gpg: string;
  key: string;
  sourceDateEpoch?: number | undefined;
  signal: AbortSignal;
}

export function fakedTime(signer: Signer): string[] {
  return signer.sourceDateEpoch !== undefined ? ['--faked-system-time', `${signer.sourceDateEpoch}!`] : [];
}

/** gpg's detached signature of `file` into `output`: armored text, or binary. */
export async function detachSign(
  file: string,
  output: string,
  signer: Signer,
  options: { armor: boolean; what: string },
): Promise<void> {
  await runTool(
    signer.gpg,
    [
      '--batch',
      '--yes',
      '--pinentry-mode',
      'error',
      ...fakedTime(signer),
      '--local-user',
      signer.key,
      ...(options.armor ? ['--armor'] : []),
      '--detach-sign',
      '--output',
      output,
      file,
    ],
    { signal: signer.signal, what: `${options.what} with key ${signer.key}` },
  );
}

/** Writes `<file>.asc`, an armored detached signature, atomically. */
export async function signDetached(file: string, signer: Signer): Promise<void> {
  await withAtomicFile(`${file}.asc`, (tmp) => detachSign(file, tmp, signer, { armor: true, what: `signing ${file}` }));
}

/**
 * Checks `signature` over `file` against the public key(s) in `publicKey` (armored or binary),
 * with gpgv and a keyring of its own: the user's keyring is neither read nor changed.
 */
export async function verifyDetached(
  file: string,
  signature: string,
  publicKey: string,
  gpg: string,
  signal: AbortSignal,
): Promise<void> {
  await withScratchDir('gpgv', async (dir) => {
    const keyring = join(dir, 'keyring.gpg');
    const armored = (await readFile(publicKey, 'latin1')).trimStart().startsWith('-----BEGIN PGP');
    if (armored)
      await runTool(gpg, ['--batch', '--yes', '--output', keyring, '--dearmor', publicKey], {
        signal,
        what: `reading the public key ${publicKey}`,
      });
    else await copyFile(publicKey, keyring);
    await runTool(requireExecutable('gpgv'), ['--keyring', keyring, signature, file], {
      signal,
      what: `${signature}: the signature of ${file} does not verify with ${publicKey}`,
    });
  });
}

/** The build's signer, when GPG_KEY names a key. */
export function gpgSigner(
  config: { gpgKey: string | undefined; bin: { gpg: string }; sourceDateEpoch: number | undefined },
  signal: AbortSignal,
): Signer | undefined {
  if (!config.gpgKey) return undefined;
  return {
    gpg: requireExecutable(config.bin.gpg, 'GPG_BIN'),
    key: config.gpgKey,
    sourceDateEpoch: config.sourceDateEpoch,
    signal,
  };
}
