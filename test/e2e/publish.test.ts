// A release published to a real docker-registry on 127.0.0.1 and fetched back: the iso task's
// ISO, SHA256SUM, signature and provenance (test GPG key) pushed with ./toolkit.ts publish, read
// by skopeo as any OCI client would, fetched with ./toolkit.ts fetch into a directory that
// ./toolkit.ts verify --key accepts; then ./build.ts publish, a tampered blob in the registry's
// storage, a hostile layer title, and a release missing its optional files.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_CONFIG, artifactManifest } from '../../buildchain/oci/artifact.ts';
import { OCI_MANIFEST, TITLE_ANNOTATION } from '../../buildchain/oci/media-types.ts';
import { bytesBlob, pushBlob, pushManifest, referrersTag, type Target } from '../../buildchain/oci/push.ts';
import { RegistryClient, resolveEndpoint } from '../../buildchain/oci/registry.ts';
import { writeIso } from '../../buildchain/iso9660/writer.ts';
import { STAGING } from '../../buildchain/release/fetch.ts';
import { RELEASE_ARTIFACT_TYPE } from '../../buildchain/release/oci-artifact.ts';
import { sha256Digest } from '../../buildchain/store/sha256.ts';
import { requireTool, runCli, runEngine, tempDir } from '../helpers.ts';
import { metalk8sTasks, signedIsoBuild } from '../project.ts';
import { startProxy } from '../registry.ts';
import { startDockerRegistry, type LocalServer } from '../servers.ts';

const run = promisify(execFile);
const stops: LocalServer[] = [];
afterEach(async () => {
  for (const server of stops.splice(0)) await server.stop();
});

async function registry(): Promise<{ host: string; storage: string }> {
  const dir = tempDir('mk8s-publish-registry-');
  const server = await startDockerRegistry(dir);
  stops.push(server);
  return { host: `127.0.0.1:${server.port}`, storage: join(dir, 'data/docker/registry/v2') };
}

const toolkit = (...args: string[]) => runCli(args, { entry: 'toolkit.ts' });

describe('./toolkit.ts publish and fetch against docker-registry', () => {
  it(
    'publishes one artifact that skopeo reads, fetches it back for verify, and refuses a tampered blob',
    { timeout: 120_000 },
    async () => {
      const { host, storage } = await registry();
      const { root, keyring, failures } = await signedIsoBuild();
      expect(failures).toEqual([]);
      const publicKey = keyring.publicKey;
      const iso = join(root, '_build/metalk8s.iso');
      const ref = `${host}/releases/metalk8s:1.0.0`;

      const published = await toolkit('publish', iso, ref, '--json');
      expect([published.code, published.stderr]).toEqual([0, '']);
      const result = JSON.parse(published.stdout) as {
        reference: string;
        digest: string;
        files: { title: string; mediaType: string; push: string }[];
        referrers: { artifactType: string; listedBy: string }[];
      };
      expect(result.reference).toBe(`${ref}@${result.digest}`);
      expect(result.files.map((f) => [f.title, f.mediaType, f.push])).toEqual([
        ['metalk8s.iso', 'application/x-iso9660-image', 'uploaded'],
        ['SHA256SUM', 'text/plain', 'uploaded'],
        ['SHA256SUM.asc', 'application/pgp-signature', 'uploaded'],
        ['sbom.spdx.json', 'application/spdx+json', 'uploaded'],
        ['metalk8s.iso.provenance.json', 'application/vnd.in-toto+json', 'uploaded'],
        ['metalk8s.iso.intoto.jsonl', 'application/vnd.dsse.envelope.v1+json', 'uploaded'],
      ]);
      expect(result.referrers).toEqual([
        { artifactType: 'application/spdx+json', digest: expect.any(String), listedBy: 'tag' },
        { artifactType: 'application/pgp-signature', digest: expect.any(String), listedBy: 'tag' },
      ]);

      // skopeo, as any OCI client: the raw manifest, then a copy to a dir: layout.
      const skopeo = requireTool('skopeo');
      const raw = await run(skopeo, ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
      expect(sha256Digest(raw.stdout)).toBe(result.digest);
      const manifest = JSON.parse(raw.stdout) as {
        artifactType: string;
        config: { mediaType: string };
        layers: { mediaType: string; digest: string; annotations: Record<string, string> }[];
      };
      expect(manifest.artifactType).toBe(RELEASE_ARTIFACT_TYPE);
      expect(manifest.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
      expect(manifest.layers.map((l) => l.annotations[TITLE_ANNOTATION])).toEqual(result.files.map((f) => f.title));
      const copy = join(tempDir(), 'copy');
      await run(skopeo, ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${copy}`]);
      const isoLayer = manifest.layers[0]!;
      expect(readFileSync(join(copy, isoLayer.digest.slice('sha256:'.length))).equals(readFileSync(iso))).toBe(true);
      // The referrers index of the fallback tag, as another OCI 1.1 client would read it.
      const index = await run(skopeo, [
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${host}/releases/metalk8s:${referrersTag(result.digest)}`,
      ]);
      expect((JSON.parse(index.stdout) as { manifests: unknown[] }).manifests).toHaveLength(2);

      // Fetched back by tag: every file, then verify with the release key.
      const dir = join(tempDir(), 'fetched');
      const fetched = await toolkit('fetch', ref, dir, '--referrers');
      expect([fetched.code, fetched.stderr]).toEqual([0, '']);
      expect(fetched.stdout).toContain(`${ref}@${result.digest}: 6 files, each matching its digest`);
      expect(readdirSync(dir).sort()).toEqual([...result.files.map((f) => f.title), 'referrers'].sort());
      const referrerDirs = readdirSync(join(dir, 'referrers'));
      expect(referrerDirs).toHaveLength(2);
      expect(referrerDirs.flatMap((d) => readdirSync(join(dir, 'referrers', d))).sort()).toEqual([
        'SHA256SUM',
        'SHA256SUM.asc',
        'sbom.spdx.json',
      ]);
      const verified = await toolkit('verify', join(dir, 'metalk8s.iso'), '--key', publicKey);
      expect([verified.code, verified.stderr]).toEqual([0, '']);
      expect(verified.stdout).toContain('SHA256SUM: signature good');
      expect(verified.stdout).toContain('provenance signature good, its subject is this ISO');

      // ./build.ts publish: without PUBLISH_REGISTRY, one line saying the setting; with it, the
      // same release again (every blob already there).
      const unset = await runEngine(
        root,
        metalk8sTasks(root, { GPG_KEY: 'release@example.invalid', SOURCE_DATE_EPOCH: '1600000000' }),
        ['publish'],
      );
      expect(unset.finished.filter((r) => r.result === 'fail').map((r) => [r.name, r.error])).toEqual([
        ['publish', 'publish: PUBLISH_REGISTRY is not set (the registry, and a namespace, to push to)'],
      ]);
      const report = await runEngine(
        root,
        metalk8sTasks(root, {
          GPG_KEY: 'release@example.invalid',
          SOURCE_DATE_EPOCH: '1600000000',
          PUBLISH_REGISTRY: `${host}/releases/`,
        }),
        ['publish'],
      );
      expect(report.finished.filter((r) => r.result === 'fail').map((r) => r.error)).toEqual([]);
      const version = readFileSync(join(root, 'VERSION'), 'utf8');
      const tag = ['MAJOR', 'MINOR', 'PATCH'].map((k) => new RegExp(`VERSION_${k}=(\\d+)`).exec(version)![1]).join('.');
      const suffix = /VERSION_SUFFIX=(.*)/.exec(version)?.[1]?.trim() ?? '';
      const byTask = await run(skopeo, [
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${host}/releases/metalk8s:${tag}${suffix.replace(/\+/g, '_')}`,
      ]);
      expect(sha256Digest(byTask.stdout)).toBe(result.digest);

      // One flipped byte of SHA256SUM's blob in the registry's storage: fetch refuses, writes nothing.
      const sums = manifest.layers[1]!.digest.slice('sha256:'.length);
      const blob = join(storage, 'blobs/sha256', sums.slice(0, 2), sums, 'data');
      const bytes = readFileSync(blob);
      bytes[0] = bytes[0]! ^ 0x01;
      writeFileSync(blob, bytes);
      const target = join(tempDir(), 'tampered');
      const refused = await toolkit('fetch', `${ref.replace(/:1\.0\.0$/, '')}@${result.digest}`, target);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `^toolkit: http://${host}/v2/releases/metalk8s/blobs/sha256:${sums} \\(SHA256SUM\\): digest mismatch`,
        ),
      );
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      // None of the release's files; only the staging store a next fetch would resume from.
      expect(readdirSync(target)).toEqual([STAGING]);
    },
  );

  it('publishes without the optional files, saying so, and refuses a SHA256SUM that lists another ISO', async () => {
    const { host } = await registry();
    const tree = tempDir();
    writeFileSync(join(tree, 'sbom.spdx.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', packages: [] }));
    const out = tempDir();
    const iso = join(out, 'release.iso');
    const written = await writeIso(tree, iso, { volumeId: 'TEST 1', sourceDateEpoch: 1600000000 });
    writeFileSync(join(out, 'SHA256SUM'), `${written.sha256}  release.iso\n`);
    const ref = `${host}/test/release:1`;
    const published = await toolkit('publish', iso, ref);
    expect(published.code).toBe(0);
    expect(published.stderr.trim().split('\n')).toEqual([
      'SHA256SUM.asc: none beside release.iso, not published (the build signs with GPG_KEY)',
      'release.iso.provenance.json: none beside release.iso, not published (the iso task writes it)',
      'release.iso.intoto.jsonl: none beside release.iso, not published (the build signs it with GPG_KEY)',
    ]);
    // The SBOM came from inside the ISO; only it has a referrer (no signature to attach).
    expect(published.stdout).toMatch(/uploaded +sha256:[0-9a-f]{64} {2}sbom\.spdx\.json \(application\/spdx\+json\)/);
    expect(published.stdout.match(/^referrer /gm)).toHaveLength(1);
    expect(published.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^${ref}@sha256:[0-9a-f]{64}$`));

    // Fetched through a proxy that cuts the ISO's blob once: resumed with a Range request.
    const isoDigest = `sha256:${written.sha256}`;
    const proxy = await startProxy(host, { cut: { digest: isoDigest, after: 20_000, times: 1 } });
    const dir = join(tempDir(), 'fetched');
    const fetched = await toolkit('fetch', `${proxy.host}/test/release:1`, dir);
    expect([fetched.code, fetched.stderr]).toEqual([0, '']);
    expect(readFileSync(join(dir, 'release.iso')).equals(readFileSync(iso))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['SHA256SUM', 'release.iso', 'sbom.spdx.json']);
    const isoRequests = proxy.requests.filter((r) => r.url.endsWith(`/blobs/${isoDigest}`));
    expect(isoRequests.map((r) => r.range)).toEqual([undefined, 'bytes=20000-']);

    // An ISO with no SBOM, at its root or beside it: refused, naming the ISO.
    const bare = tempDir();
    const bareIso = join(bare, 'bare.iso');
    const bareSum = await writeIso(tempDir(), bareIso, { volumeId: 'TEST 1', sourceDateEpoch: 1600000000 });
    writeFileSync(join(bare, 'SHA256SUM'), `${bareSum.sha256}  bare.iso\n`);
    const noSbom = await toolkit('publish', bareIso, ref);
    expect([noSbom.code, noSbom.stderr]).toEqual([
      1,
      `toolkit: ${bareIso}: no sbom.spdx.json beside it nor at its root\n`,
    ]);

    writeFileSync(join(out, 'SHA256SUM'), `${'0'.repeat(64)}  release.iso\n`);
    const refused = await toolkit('publish', iso, ref);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `toolkit: ${join(out, 'SHA256SUM')}: lists sha256 ${'0'.repeat(64)} for release.iso, which is sha256:${written.sha256}\n`,
    ]);
  });

  it('refuses a manifest whose layer title is not a plain file name, or that is no release', async () => {
    const { host } = await registry();
    const client = new RegistryClient(resolveEndpoint(host, new Map()), { credentials: () => undefined });
    const target: Target = { client, repository: 'hostile/release', signal: new AbortController().signal };
    await pushBlob(target, bytesBlob(EMPTY_CONFIG));
    const payload = bytesBlob(Buffer.from('owned\n'));
    await pushBlob(target, payload);
    const push = (tag: string, artifactType: string, title: string) =>
      pushManifest(
        target,
        tag,
        artifactManifest({
          artifactType,
          layers: [
            {
              mediaType: 'text/plain',
              digest: payload.digest,
              size: payload.size,
              annotations: { [TITLE_ANNOTATION]: title },
            },
          ],
        }),
        OCI_MANIFEST,
      );
    await push('climb', RELEASE_ARTIFACT_TYPE, '../x');
    await push('other', 'application/vnd.example.other', 'x');
    const parent = tempDir();
    const dir = join(parent, 'fetched');
    mkdirSync(dir);
    const climb = await toolkit('fetch', `${host}/hostile/release:climb`, dir);
    expect([climb.code, climb.stderr]).toEqual([
      1,
      `toolkit: http://${host}/v2/hostile/release/manifests/climb: layers[0]: annotation ${TITLE_ANNOTATION} "../x" is not a plain file name (letters, digits, ._+-, not starting with a dot)\n`,
    ]);
    expect([readdirSync(dir), existsSync(join(parent, 'x'))]).toEqual([[], false]);
    const other = await toolkit('fetch', `${host}/hostile/release:other`, dir);
    expect([other.code, other.stderr]).toEqual([
      1,
      `toolkit: http://${host}/v2/hostile/release/manifests/other: artifactType "application/vnd.example.other", not a release (${RELEASE_ARTIFACT_TYPE})\n`,
    ]);
  });
});
