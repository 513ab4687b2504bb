// The release signature as the iso task writes it (SHA256SUM.asc with GPG_KEY), and
// ./toolkit.ts verify as an operator runs it: a good ISO passes; a flipped byte, another key or a
// missing signature fail, naming the file.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool, runCli, tempDir } from '../../test/helpers.ts';
import { testKeyring } from '../../test/gpg.ts';
import { signedIsoBuild, stopAgent } from '../../test/project.ts';

const run = promisify(execFile);

describe('release signature and ./toolkit.ts verify', () => {
  it(
    'signs SHA256SUM with GPG_KEY; verify accepts the ISO and refuses a flipped byte or another key',
    { timeout: 60_000 },
    async () => {
      const { root, keyring: release, failures } = await signedIsoBuild();
      expect(failures).toEqual([]);
      const other = await testKeyring('other@example.invalid');
      await stopAgent(other);
      const iso = join(root, '_build/metalk8s.iso');
      const sums = join(root, '_build/SHA256SUM');
      expect(readFileSync(`${sums}.asc`, 'utf8')).toContain('BEGIN PGP SIGNATURE');

      const verify = (...args: string[]) => runCli(['verify', iso, ...args], { entry: 'toolkit.ts' });
      const good = await verify('--key', release.publicKey);
      expect([good.code, good.stderr]).toEqual([0, '']);
      expect(good.stdout).toContain('metalk8s.iso: sha256 ');
      expect(good.stdout).toContain('SHA256SUM: signature good');
      expect(good.stdout).toContain('metalk8s.iso.intoto.jsonl: provenance signature good, its subject is this ISO');

      // The provenance envelope, checked with gpgv alone: DSSE's PAE over the payload, the signature as given.
      const envelopeFile = `${iso}.intoto.jsonl`;
      const envelope = JSON.parse(readFileSync(envelopeFile, 'utf8')) as {
        payloadType: string;
        payload: string;
        signatures: { keyid: string; sig: string }[];
      };
      const payload = Buffer.from(envelope.payload, 'base64');
      expect(payload.toString()).toBe(readFileSync(`${iso}.provenance.json`, 'utf8'));
      const scratch = tempDir();
      writeFileSync(
        join(scratch, 'pae'),
        Buffer.concat([
          Buffer.from(`DSSEv1 ${envelope.payloadType.length} ${envelope.payloadType} ${payload.length} `),
          payload,
        ]),
      );
      writeFileSync(join(scratch, 'sig'), Buffer.from(envelope.signatures[0]!.sig, 'base64'));
      await run(requireTool('gpg'), [
        '--batch',
        '--dearmor',
        '--output',
        join(scratch, 'keyring.gpg'),
        release.publicKey,
      ]);
      await run(requireTool('gpgv'), [
        '--keyring',
        join(scratch, 'keyring.gpg'),
        join(scratch, 'sig'),
        join(scratch, 'pae'),
      ]);
      expect(envelope.signatures[0]!.keyid).toMatch(/^[0-9A-F]{40}$/);

      // A payload changed after signing is refused, naming the file.
      const statement = JSON.parse(payload.toString()) as { subject: { digest: { sha256: string } }[] };
      statement.subject[0]!.digest.sha256 = '0'.repeat(64);
      writeFileSync(
        envelopeFile,
        `${JSON.stringify({ ...envelope, payload: Buffer.from(JSON.stringify(statement)).toString('base64') })}\n`,
      );
      const forged = await verify('--key', release.publicKey);
      expect([forged.code, forged.stderr]).toEqual([
        1,
        `toolkit: ${envelopeFile}: no signature of the envelope verifies with ${release.publicKey}\n`,
      ]);
      writeFileSync(envelopeFile, `${JSON.stringify(envelope)}\n`);

      const wrongKey = await verify('--key', other.publicKey);
      expect([wrongKey.code, wrongKey.stderr]).toEqual([
        1,
        expect.stringContaining(`${sums}.asc: the signature of ${sums} does not verify with ${other.publicKey}`),
      ]);

      // Another copy of the release, with one byte changed.
      const copy = join(tempDir(), 'copy');
      mkdirSync(copy);
      const bytes = readFileSync(iso);
      bytes[bytes.length - 100]! ^= 0xff;
      writeFileSync(join(copy, 'metalk8s.iso'), bytes);
      writeFileSync(join(copy, 'SHA256SUM'), readFileSync(sums));
      const flipped = await runCli(['verify', join(copy, 'metalk8s.iso')], { entry: 'toolkit.ts' });
      expect([flipped.code, flipped.stderr]).toEqual([
        1,
        expect.stringMatching(
          new RegExp(`${join(copy, 'metalk8s.iso')}: sha256 [0-9a-f]{64} does not match ${join(copy, 'SHA256SUM')}`),
        ),
      ]);

      rmSync(`${sums}.asc`);
      const unsigned = await verify('--key', release.publicKey);
      expect([unsigned.code, unsigned.stderr]).toEqual([
        1,
        expect.stringContaining(`${sums}.asc: no signature beside SHA256SUM`),
      ]);
    },
  );
});
