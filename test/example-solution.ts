// The example Solution (test/fixtures/example-solution) as a source tree ready to build: two
// images laid out beside it, sharing a layer, as a Solution vendor's build would leave them.
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, tempDir } from './helpers.ts';
import { dirLayout, imageOf, randomLayer } from './registry.ts';

export const EXAMPLE_IMAGES = ['example-operator', 'example-ui'];

export async function exampleSolutionSource(): Promise<string> {
  const source = join(tempDir('mk8s-solution-'), 'example');
  cpSync(join(PROJECT_ROOT, 'test/fixtures/example-solution'), source, { recursive: true });
  const shared = await randomLayer('base', 40_000);
  for (const name of EXAMPLE_IMAGES) {
    mkdirSync(join(source, 'images', name), { recursive: true });
    await dirLayout(join(source, 'images', name, '1.0.0'), imageOf([shared, await randomLayer(name, 10_000)]), 'v2s2');
  }
  return source;
}
