// Resolves the closure of the named packages in one repository and downloads it into STORE, as
// the packaging tasks do (metadata into the store, closure, 8 downloads at once): ours, timed by
// hyperfine against dnf download --resolve --alldeps.
import { limitConcurrency } from '../../buildchain/concurrency.ts';
import { rangeSource } from '../../buildchain/http.ts';
import { BlobStore, ingestRetrying } from '../../buildchain/store/blob-store.ts';
import { nevra } from '../../buildchain/rpm/metadata.ts';
import { YumRepository, storeDigest } from '../../buildchain/rpm/repository.ts';
import { resolveClosure } from '../../buildchain/rpm/resolve.ts';

const [baseurl, storeDir, ...names] = process.argv.slice(2) as [string, string, ...string[]];
const signal = new AbortController().signal;
const store = new BlobStore(storeDir);
const repo = new YumRepository({ name: 'bench', baseurl, priority: 1 }, new Map(), store);
void (async () => {
  const closure = await resolveClosure({
    packages: await repo.packages(signal),
    priorities: new Map([['bench', 1]]),
    requests: names.map((name) => ({ name, where: 'bench' })),
    fileOwners: (paths) => repo.fileOwners(paths, signal),
  });
  const schedule = limitConcurrency(8);
  await Promise.all(
    closure.map((pkg) =>
      schedule(() => {
        const url = repo.url(pkg.location);
        return ingestRetrying(store, storeDigest(pkg.checksum, url), rangeSource(url, signal, nevra(pkg)), {
          size: pkg.size,
          signal,
          describe: () => url,
        });
      }),
    ),
  );
  process.stdout.write(`${closure.length}\n`);
})().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
