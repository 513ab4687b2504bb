// Package signatures: rpmsign adds ours inside the RPM header, with the signer of openpgp.ts.
import { fakedTime, type Signer } from './openpgp.ts';
import { runTool } from '../tools.ts';

/** Adds our signature to each package, in place. */
export async function signPackages(files: readonly string[], signer: Signer & { rpmsign: string }): Promise<void> {
  if (files.length === 0) return;
  await runTool(
    signer.rpmsign,
    [
      '--addsign',
      '--define',
      `_gpg_name ${signer.key}`,
      '--define',
      `__gpg ${signer.gpg}`,
      '--define',
      `_gpg_sign_cmd_extra_args --batch --pinentry-mode error ${fakedTime(signer).join(' ')}`,
      ...files,
    ],
    { signal: signer.signal, what: `signing ${files.length} package(s) with key ${signer.key}` },
  );
}
