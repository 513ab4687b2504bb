// DSSE envelopes (the in-toto signature wrapper) signed with the build's OpenPGP key: the
// signature is gpg's binary detached signature over DSSE's pre-authentication encoding, so any
// OpenPGP verifier checks it once the PAE is rebuilt from the envelope. One envelope per line in
// `<artifact>.intoto.jsonl`, as SLSA tooling writes provenance.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { withScratchDir } from '../fs/scratch.ts';
import { detachSign, verifyDetached, type Signer } from './openpgp.ts';
import { runTool } from '../tools.ts';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseEnvelope {
  payloadType: string;
  /** base64 */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `),
    payload,
  ]);
}

/** An envelope of `payload` signed by the signer's key, its keyid the key's fingerprint. */
export async function signEnvelope(payloadType: string, payload: Buffer, signer: Signer): Promise<DsseEnvelope> {
  return withScratchDir('dsse', async (dir) => {
    const pae = join(dir, 'pae');
    await writeFile(pae, preAuthEncoding(payloadType, payload));
    await detachSign(pae, `${pae}.sig`, signer, { armor: false, what: 'signing the provenance' });
    const listing = await runTool(signer.gpg, ['--batch', '--with-colons', '--list-secret-keys', signer.key], {
      signal: signer.signal,
      what: `reading key ${signer.key}`,
    });
    const fingerprint = /^fpr:+([0-9A-F]{40,64}):/m.exec(listing)?.[1] ?? signer.key;
    return {
      payloadType,
      payload: payload.toString('base64'),
      signatures: [{ keyid: fingerprint, sig: (await readFile(`${pae}.sig`)).toString('base64') }],
    };
  });
}

/**
 * The payload of the first envelope of an `.intoto.jsonl` file once one of its signatures
 * verifies with `publicKey`; an error naming the file otherwise.
 */
export async function verifyEnvelopeFile(
  file: string,
  publicKey: string,
  gpg: string,
  signal: AbortSignal,
): Promise<{ payloadType: string; payload: Buffer }> {
  let envelope: DsseEnvelope;
  try {
    envelope = JSON.parse((await readFile(file, 'utf8')).split('\n')[0]!) as DsseEnvelope;
    if (
      typeof envelope.payloadType !== 'string' ||
      typeof envelope.payload !== 'string' ||
      !Array.isArray(envelope.signatures)
    )
      throw new Error('not a DSSE envelope');
  } catch (error) {
    throw new BuildError(`${file}: cannot read the DSSE envelope (${(error as Error).message})`);
  }
  const payload = Buffer.from(envelope.payload, 'base64');
  return withScratchDir('dsse', async (dir) => {
    const pae = join(dir, 'pae');
    await writeFile(pae, preAuthEncoding(envelope.payloadType, payload));
    for (const [index, signature] of envelope.signatures.entries()) {
      await writeFile(`${pae}.${index}.sig`, Buffer.from(String(signature.sig), 'base64'));
      const good = await verifyDetached(pae, `${pae}.${index}.sig`, publicKey, gpg, signal).then(
        () => true,
        () => false,
      );
      if (good) return { payloadType: envelope.payloadType, payload };
    }
    throw new BuildError(`${file}: no signature of the envelope verifies with ${publicKey}`);
  });
}
