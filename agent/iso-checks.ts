// The checks iso-manager.sh runs on a MetalK8s ISO before it changes anything, beyond upstream's
// (which reads product.txt and nothing else): the sha256 against SHA256SUM, the content digests
// against the ISO's SBOM, and with --key the signatures. An ISO our chain did not build (an
// upstream release) has no SBOM and may come without SHA256SUM: each check runs when its input
// is there and is otherwise said skipped, with why, so that such an ISO imports as upstream's
// script imports it. What the operator asks for explicitly (--sums, --key) must be there.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BuildError } from '../buildchain/errors.ts';
import { verifyChecksum, verifyContents, verifySignatures } from '../buildchain/release/verify.ts';

export interface IsoCheckOptions {
  /** SHA256SUM listing the ISO (default: the one beside it, when there is one). */
  sums?: string;
  /** The release's public key: SHA256SUM.asc must verify with it. */
  publicKey?: string;
  /** The operator knowingly does without the digest check. */
  skipChecksum: boolean;
  gpg: string;
}

/** Says what was checked and what was skipped, as it goes; throws a BuildError on the first mismatch. */
export async function checkIso(iso: string, options: IsoCheckOptions, say: (line: string) => void): Promise<void> {
  const sums = options.sums ?? join(dirname(iso), 'SHA256SUM');
  const skipped = options.skipChecksum
    ? `--skip-checksum given: digest check of ${iso} skipped`
    : options.sums === undefined && !existsSync(sums)
      ? `no SHA256SUM beside ${iso}: digest check skipped`
      : undefined;
  // The signature is over SHA256SUM: without the digest check it would vouch for nothing.
  if (options.publicKey && skipped)
    throw new BuildError(
      `${iso}: --key needs the ISO checked against its SHA256SUM (${options.skipChecksum ? 'drop --skip-checksum' : `none at ${sums}; give it with --sums`})`,
    );
  let sha256 = '';
  if (skipped) say(skipped);
  else {
    const checked = await verifyChecksum(iso, sums);
    sha256 = checked.sha256;
    say(checked.checked);
  }
  say((await verifyContents(iso)) ?? `no sbom.spdx.json in ${iso}: content digest check skipped`);
  if (!options.publicKey) return say(`no --key given: signature check of ${iso} skipped`);
  const signal = new AbortController().signal;
  for (const line of await verifySignatures(iso, sha256, sums, { ...options, publicKey: options.publicKey, signal }))
    say(line);
}
