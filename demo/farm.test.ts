// What runner B took from the cache is read from docker-registry's own access log: checked here
// against a real registry, with the bytes a client really received.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers.ts';
import { imageOf, pushImage, randomLayer } from '../test/registry.ts';
import { startDockerRegistry, type LocalServer } from '../test/servers.ts';
import { servedBytes } from './farm.ts';

let registry: LocalServer | undefined;
afterEach(async () => {
  await registry?.stop();
});

describe('servedBytes', () => {
  it("counts the bytes of the registry's GET answers, whole and ranged", async () => {
    const dir = join(tempDir('mk8s-farm-'), 'registry');
    mkdirSync(dir);
    registry = await startDockerRegistry(dir);
    const layer = await randomLayer('layer', 300_000);
    const image = imageOf([layer]);
    await pushImage(registry.host, 'farm/test', '1', image);
    const logged = registry.log().length;
    const url = (digest: string) => `http://${registry!.host}/v2/farm/test/blobs/${digest}`;
    // A resumed download asks for the rest of a blob, as the store does: a 206 answer.
    const ranged = await fetch(url(layer.digest), { headers: { range: 'bytes=1000-' } });
    expect(ranged.status).toBe(206);
    let received = (await ranged.arrayBuffer()).byteLength;
    received += (await (await fetch(url(image.config.digest))).arrayBuffer()).byteLength;
    // The registry writes an access line once its answer is sent: wait for both.
    while ((registry.log().slice(logged).match(/"GET /g) ?? []).length < 2) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(received).toBe(layer.bytes.length - 1000 + image.config.bytes.length);
    expect(servedBytes(registry.log().slice(logged))).toBe(received);
  });
});
