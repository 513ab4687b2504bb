// Pulls every image of bench/images.ts's list into OUT/store and OUT/images/<repository>/<tag>, as
// the images task does (one process, one store, one download limit): ours, timed by hyperfine.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirLayout } from '../../buildchain/oci/layout.ts';
import { ImagePuller } from '../../buildchain/oci/puller.ts';
import { BlobStore } from '../../buildchain/store/blob-store.ts';
import type { BenchImage } from '../images.ts';

const [registry, list, out] = process.argv.slice(2) as [string, string, string];
const images = JSON.parse(readFileSync(list, 'utf8')) as BenchImage[];
const store = new BlobStore(join(out, 'store'));
const puller = new ImagePuller({ store, concurrency: 8 });
const signal = new AbortController().signal;
void Promise.all(
  images.map(async (image) => {
    const pulled = await puller.pull(
      { registry, repository: image.repository, digest: image.digest },
      { describe: image.repository, signal },
    );
    await writeDirLayout(store, pulled, join(out, 'images', image.repository, image.tag));
  }),
).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
