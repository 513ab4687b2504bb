// ./toolkit.ts publish and fetch: a release to an OCI registry and back. Each loads the registry
// client when it runs, as the toolkit's other commands do.
import { resolve } from 'node:path';
import { interruptSignal, positionals, type Command } from '../command-line.ts';
import { BuildError, UsageError } from '../errors.ts';
import type { ImageReference } from '../oci/reference.ts';

/** REF as a command-line word: a malformed one is bad usage (exit 2), as for image pull. */
async function referenceArgument(text: string): Promise<ImageReference> {
  const { parseReference } = await import('../oci/reference.ts');
  try {
    return parseReference(text, 'REF');
  } catch (error) {
    if (error instanceof BuildError) throw new UsageError(error.message);
    throw error;
  }
}

export const RELEASE_COMMANDS: Record<string, Command> = {
  publish: {
    synopsis: 'FILE REF [--json]',
    summary: 'push an ISO with its SHA256SUM, signature, SBOM and provenance to REF as one OCI artifact',
    group: 'release',
    async run(argv) {
      const { values, args } = positionals(argv, { json: { type: 'boolean' } }, ['FILE', 'REF']);
      const ref = await referenceArgument(args[1]!);
      if (!ref.tag || ref.digest)
        throw new UsageError(`publish needs REF with a tag and no digest (registry/repository:tag), not ${args[1]}`);
      const { publishRelease, releaseTarget } = await import('./publish.ts');
      const published = await publishRelease(
        resolve(args[0]!),
        { ...ref, tag: ref.tag },
        releaseTarget(ref, interruptSignal()),
      );
      for (const line of published.missing) process.stderr.write(`${line}\n`);
      if (values.json) {
        process.stdout.write(`${JSON.stringify(published, null, 2)}\n`);
        return 0;
      }
      for (const file of published.files)
        process.stdout.write(`${file.push.padEnd(8)} ${file.digest}  ${file.title} (${file.mediaType})\n`);
      for (const referrer of published.referrers)
        process.stdout.write(
          `referrer ${referrer.digest}  ${referrer.artifactType} (${referrer.listedBy === 'api' ? 'referrers API' : 'sha256-<hex> tag'})\n`,
        );
      process.stdout.write(`${published.reference}\n`);
      return 0;
    },
  },
  fetch: {
    synopsis: 'REF DIR [--referrers] [--json]',
    summary: 'get a published release into DIR, each file checked by digest; --referrers: theirs too',
    group: 'release',
    async run(argv) {
      const { values, args } = positionals(argv, { json: { type: 'boolean' }, referrers: { type: 'boolean' } }, [
        'REF',
        'DIR',
      ]);
      const ref = await referenceArgument(args[0]!);
      if (!ref.tag && !ref.digest) throw new UsageError(`fetch needs REF with a tag or a digest, not ${args[0]}`);
      const [{ fetchRelease }, { releaseTarget }] = await Promise.all([import('./fetch.ts'), import('./publish.ts')]);
      const fetched = await fetchRelease(ref, resolve(args[1]!), releaseTarget(ref, interruptSignal()), {
        referrers: values.referrers === true,
      });
      if (values.json) {
        process.stdout.write(`${JSON.stringify(fetched, null, 2)}\n`);
        return 0;
      }
      for (const file of fetched.files) process.stdout.write(`${file.digest}  ${file.path}\n`);
      for (const referrer of fetched.referrers) {
        process.stdout.write(`referrer ${referrer.digest}  ${referrer.artifactType}\n`);
        for (const file of referrer.files) process.stdout.write(`${file.digest}  ${file.path}\n`);
      }
      process.stdout.write(`${fetched.reference}: ${fetched.files.length} files, each matching its digest\n`);
      return 0;
    },
  },
};
