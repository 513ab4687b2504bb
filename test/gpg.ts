// GPG keyrings for the tests that sign (repository metadata, RPMs, SHA256SUM) and check signatures.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool, tempDir } from './helpers.ts';

const run = promisify(execFile);

export interface TestKeyring {
  /** The keyring's GNUPGHOME, removed after the test. */
  home: string;
  /** The key's armored public key, `home`/public.asc. */
  publicKey: string;
  /** The environment that makes gpg use this keyring. */
  env: NodeJS.ProcessEnv;
}

/**
 * A fresh keyring with one Ed25519 signing key for `address`, created at 1500000000: older than
 * the tests' SOURCE_DATE_EPOCH (1600000000), as a release key is.
 */
export async function testKeyring(address: string): Promise<TestKeyring> {
  const gpg = requireTool('gpg');
  const home = tempDir('mk8s-gnupg-');
  const env = { ...process.env, GNUPGHOME: home };
  const generate = ['--batch', '--faked-system-time', '1500000000!', '--passphrase', '', '--quick-gen-key'];
  await run(gpg, [...generate, `Test <${address}>`, 'ed25519', 'sign', 'never'], { env });
  const publicKey = join(home, 'public.asc');
  await run(gpg, ['--batch', '--armor', '--export', '--output', publicKey, address], { env });
  return { home, publicKey, env };
}
