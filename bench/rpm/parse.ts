// Parses one primary.xml.gz as the packaging tasks do and prints what it took: packages, seconds
// and the process's peak RSS (bench/rpm runs it in a fresh process per file).
import { performance } from 'node:perf_hooks';
import { openMetadata, parsePrimary } from '../../buildchain/rpm/metadata.ts';

const file = process.argv[2]!;
void (async () => {
  const started = performance.now();
  const packages = await parsePrimary(openMetadata(file), 'bench', file);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ packages: packages.length, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`,
  );
})();
