// The shared cache against a real docker-registry on 127.0.0.1: runners are engines on projects of
// their own (other roots, other build roots), sharing only the registry.
import {
  appendFileSync,
  chmodSync,
  linkSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.ts';
import { DEFAULT_HTTP_TIMEOUTS, setHttpTimeouts } from '../http.ts';
import type { ResultCache, TaskDefinition, TaskSpec } from '../engine/task.ts';
import { BlobStore } from '../store/blob-store.ts';
import { sha256Digest } from '../store/sha256.ts';
import { RecordingReporter, tempDir } from '../../test/helpers.ts';
import { startProxy } from '../../test/registry.ts';
import { startDockerRegistry, type LocalServer } from '../../test/servers.ts';
import { openCache, type CacheMode } from './index.ts';

const servers: LocalServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

async function registry(): Promise<LocalServer & { data: string }> {
  const dir = tempDir('mk8s-cache-registry-');
  const server = await startDockerRegistry(dir);
  servers.push(server);
  return { ...server, data: join(dir, 'data') };
}

const LAYER = Buffer.from('a layer shared through the store\n'.repeat(100));

/**
 * A runner: a project of its own with one input file, and cacheable tasks: `gen` writes a file and
 * a tree (a subdirectory, an executable, two hard-linked names, an empty directory); `layout`
 * puts a blob in the store and links it as a layout does; `after` needs `gen`'s file.
 * Every action that runs appends its name to ROOT/runs.log.
 */
function runner(input: string, extra: { before?: () => Promise<void> } = {}) {
  const root = tempDir('mk8s-cache-runner-');
  writeFileSync(join(root, 'in.txt'), input);
  const buildRoot = join(root, '_build');
  const store = new BlobStore(join(buildRoot, 'cache'));
  const ran = (name: string) => appendFileSync(join(root, 'runs.log'), `${name}\n`);
  const definitions: TaskDefinition[] = [
    {
      name: 'gen',
      file_dep: ['in.txt'],
      targets: ['_build/out/result.txt', '_build/tree'],
      uptodate: ['v1'],
      cache: true,
      actions: [
        async () => {
          ran('gen');
          await extra.before?.();
          const text = readFileSync(join(root, 'in.txt'), 'utf8');
          mkdirSync(join(buildRoot, 'out'), { recursive: true });
          writeFileSync(join(buildRoot, 'out/result.txt'), `result of ${text}`);
          const tree = join(buildRoot, 'tree');
          mkdirSync(join(tree, 'sub'), { recursive: true });
          mkdirSync(join(tree, 'empty'));
          writeFileSync(join(tree, 'sub/run.sh'), '#!/bin/sh\necho hi\n');
          chmodSync(join(tree, 'sub/run.sh'), 0o755);
          writeFileSync(join(tree, 'a.txt'), text.toUpperCase());
          linkSync(join(tree, 'a.txt'), join(tree, 'b.txt'));
        },
      ],
    },
    {
      name: 'layout',
      file_dep: ['in.txt'],
      targets: ['_build/layout'],
      cache: true,
      actions: [
        async () => {
          ran('layout');
          const digest = sha256Digest(LAYER);
          await store.put(digest, LAYER, 'test layer');
          mkdirSync(join(buildRoot, 'layout'), { recursive: true });
          await store.linkTo(digest, join(buildRoot, 'layout', digest.slice(7)));
        },
      ],
    },
    {
      name: 'after',
      file_dep: ['_build/out/result.txt'],
      targets: ['_build/after.txt'],
      cache: true,
      actions: [
        async () => {
          ran('after');
          writeFileSync(join(buildRoot, 'after.txt'), `after ${readFileSync(join(buildRoot, 'out/result.txt'))}`);
        },
      ],
    },
  ];
  const run = async (cache: string, mode: CacheMode = 'readwrite') => {
    const { results } = openCache({ registry: cache, mode, credentials: () => undefined, retryDelayMs: 10 }, store);
    const engine = new Engine({
      root,
      buildRoot,
      definitions,
      defaultTasks: [],
      cache: { results, version: 'test-1' },
    });
    const reporter = new RecordingReporter();
    const summary = await engine.run({
      tasks: ['gen', 'layout', 'after'],
      workers: 2,
      reporter,
      verbosity: 0,
      lockWaitSeconds: 0,
      signal: new AbortController().signal,
    });
    const runs = (() => {
      try {
        return readFileSync(join(root, 'runs.log'), 'utf8').split('\n').filter(Boolean).sort();
      } catch {
        return [];
      }
    })();
    return { summary, reporter, runs };
  };
  return { root, buildRoot, store, run };
}

/** Every file and directory under `dir`: path, mode, content, and which paths share an inode. */
function snapshot(dir: string) {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const stats = statSync(path);
    const rel = path.slice(dir.length + 1);
    if (entry.isDirectory()) out[rel] = `dir ${(stats.mode & 0o777).toString(8)}`;
    else {
      const twin = stats.nlink > 1 ? inodes.get(stats.ino) : undefined;
      if (!twin) inodes.set(stats.ino, rel);
      out[rel] = `${(stats.mode & 0o777).toString(8)} ${readFileSync(path, 'utf8')}${twin ? ` (= ${twin})` : ''}`;
    }
  }
  return out;
}

/** Runs one task in a project of its own with this result cache. */
async function runAlone(task: TaskSpec, results: ResultCache) {
  const root = tempDir();
  const engine = new Engine({
    root,
    buildRoot: join(root, '_build'),
    definitions: [task],
    defaultTasks: [],
    cache: { results, version: 'test-1' },
  });
  const reporter = new RecordingReporter();
  const summary = await engine.run({
    tasks: [task.name],
    workers: 1,
    reporter,
    verbosity: 0,
    lockWaitSeconds: 0,
    signal: new AbortController().signal,
  });
  return { summary, reporter };
}

const results = (buildRoot: string) => ({
  out: snapshot(join(buildRoot, 'out')),
  tree: snapshot(join(buildRoot, 'tree')),
  layout: snapshot(join(buildRoot, 'layout')),
  after: readFileSync(join(buildRoot, 'after.txt'), 'utf8'),
});

describe('the shared cache in a registry', () => {
  it('gives runner B the results runner A built: same bytes, modes and links, no action run', async () => {
    const cache = await registry();
    const a = runner('input one');
    const first = await a.run(`${cache.host}/metalk8s-cache`);
    expect(first.summary.ok).toBe(true);
    expect(first.runs).toEqual(['after', 'gen', 'layout']);
    expect(first.reporter.warnings).toEqual([]);

    const b = runner('input one');
    const second = await b.run(`${cache.host}/metalk8s-cache`);
    expect(second.summary.ok).toBe(true);
    expect(second.reporter.warnings).toEqual([]);
    expect(second.runs).toEqual([]);
    expect(second.reporter.finished.filter((t) => t.cached).map((t) => t.name)).toEqual(
      expect.arrayContaining(['gen', 'layout', 'after']),
    );
    expect(results(b.buildRoot)).toEqual(results(a.buildRoot));
    // The layout's file is B's store's own blob, as a built layout's is.
    const hex = sha256Digest(LAYER).slice(7);
    expect(statSync(join(b.buildRoot, 'layout', hex)).ino).toBe(statSync(b.store.path(`sha256:${hex}`)).ino);
    // Restored tasks are recorded as done: the next run has nothing to do.
    const third = await b.run(`${cache.host}/metalk8s-cache`);
    expect(third.reporter.finished.every((t) => t.result === 'up-to-date')).toBe(true);

    // Other inputs, other keys: C builds its own.
    const c = runner('input two');
    const other = await c.run(`${cache.host}/metalk8s-cache`);
    expect(other.runs).toEqual(['after', 'gen', 'layout']);
    expect(readFileSync(join(c.buildRoot, 'out/result.txt'), 'utf8')).toBe('result of input two');
  });

  it('in read mode takes what is there and never pushes', async () => {
    const cache = await registry();
    await runner('shared').run(`${cache.host}/metalk8s-cache`);
    const proxy = await startProxy(cache.host, {});
    const reader = runner('shared');
    const restored = await reader.run(`${proxy.host}/metalk8s-cache`, 'read');
    expect(restored.runs).toEqual([]);
    const builder = runner('not in the cache');
    const built = await builder.run(`${proxy.host}/metalk8s-cache`, 'read');
    expect(built.summary.ok).toBe(true);
    expect(built.runs).toEqual(['after', 'gen', 'layout']);
    expect(built.reporter.warnings).toEqual([]);
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(proxy.requests.filter((r) => !['GET', 'HEAD'].includes(r.method))).toEqual([]);
  });

  it('builds on with one warning when the cache stops answering mid-build', async () => {
    const cache = await registry();
    const a = runner('input', { before: () => cache.stop() });
    const { summary, reporter, runs } = await a.run(`${cache.host}/metalk8s-cache`);
    expect(summary.ok).toBe(true);
    expect(runs).toEqual(['after', 'gen', 'layout']);
    expect(reporter.warnings).toHaveLength(1);
    expect(reporter.warnings[0]).toMatch(
      new RegExp(`^cache CACHE_REGISTRY=${cache.host}/metalk8s-cache: .*; building without it$`),
    );
  });

  it('builds on with one warning when the cache accepts connections and never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    setHttpTimeouts({ ...DEFAULT_HTTP_TIMEOUTS, headerMs: 300 });
    try {
      const { summary, reporter, runs } = await runner('input').run(`127.0.0.1:${port}/metalk8s-cache`);
      expect(summary.ok).toBe(true);
      expect(runs).toEqual(['after', 'gen', 'layout']);
      expect(reporter.warnings).toHaveLength(1);
      expect(reporter.warnings[0]).toMatch(
        /^cache CACHE_REGISTRY=127\.0\.0\.1:\d+\/metalk8s-cache: .*no response headers within 0\.3 s/,
      );
    } finally {
      setHttpTimeouts(DEFAULT_HTTP_TIMEOUTS);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("says a cache that is down in the run's warnings when a store blob is the first thing asked", async () => {
    const store = new BlobStore(join(tempDir(), 'cache'));
    const { results } = openCache({ registry: '127.0.0.1:9/metalk8s-cache', mode: 'readwrite' }, store);
    const look = async () => void (await store.has(sha256Digest('absent')));
    const { summary, reporter } = await runAlone({ name: 'look', actions: [look] }, results);
    expect(summary.ok).toBe(true);
    expect(reporter.warnings).toEqual([
      expect.stringMatching(/^cache CACHE_REGISTRY=127\.0\.0\.1:9\/metalk8s-cache: /),
    ]);
  });

  it('does not share a result it cannot carry (a symlink), and the task still succeeds', async () => {
    const cache = await registry();
    const store = new BlobStore(join(tempDir(), 'cache'));
    const { results } = openCache({ registry: `${cache.host}/metalk8s-cache`, mode: 'readwrite' }, store);
    const make = async ({ root }: { root: string }) => {
      mkdirSync(join(root, '_build/linked'), { recursive: true });
      symlinkSync('elsewhere', join(root, '_build/linked/link'));
    };
    const { summary, reporter } = await runAlone(
      { name: 'linked', targets: ['_build/linked'], uptodate: ['v1'], cache: true, actions: [make] },
      results,
    );
    expect(summary.ok).toBe(true);
    expect(reporter.warnings).toEqual([
      expect.stringMatching(/^cache: linked is not shared: .*link is neither a file/),
    ]);
  });

  it('builds on with one warning when the cache answers 5xx', async () => {
    const cache = await registry();
    const proxy = await startProxy(cache.host, { unavailable: 1000 });
    const { summary, reporter, runs } = await runner('input').run(`${proxy.host}/metalk8s-cache`);
    expect(summary.ok).toBe(true);
    expect(runs).toEqual(['after', 'gen', 'layout']);
    expect(reporter.warnings).toHaveLength(1);
    expect(reporter.warnings[0]).toContain('HTTP 503');
  });

  it('refuses a tampered entry and builds it here instead', async () => {
    const cache = await registry();
    await runner('input').run(`${cache.host}/metalk8s-cache`);
    // Other bytes of the same length under the digest of gen's result file, in the registry's own storage.
    const hex = sha256Digest('result of input').slice(7);
    const data = join(cache.data, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    writeFileSync(data, 'result of INPUT');
    const b = runner('input');
    const { summary, reporter, runs } = await b.run(`${cache.host}/metalk8s-cache`);
    expect(summary.ok).toBe(true);
    expect(runs).toEqual(['gen']);
    expect(readFileSync(join(b.buildRoot, 'out/result.txt'), 'utf8')).toBe('result of input');
    expect(reporter.warnings).toHaveLength(1);
    expect(reporter.warnings[0]).toMatch(/of gen refused \(.*digest mismatch.*\); building it here instead$/);
    // Nothing of the refused entry is left beside the targets.
    expect(readdirSync(join(b.buildRoot, 'out'))).toEqual(['result.txt']);
  });

  it('lets two runners push the same entries at once', async () => {
    const cache = await registry();
    const [one, two] = await Promise.all([
      runner('same').run(`${cache.host}/metalk8s-cache`),
      runner('same').run(`${cache.host}/metalk8s-cache`),
    ]);
    for (const pushed of [one, two]) {
      expect(pushed.summary.ok).toBe(true);
      expect(pushed.reporter.warnings).toEqual([]);
    }
    const late = await runner('same').run(`${cache.host}/metalk8s-cache`);
    expect(late.runs).toEqual([]);
  });

  it('shares store blobs: a blob one store took in is found by another', async () => {
    const cache = await registry();
    const a = runner('blobs');
    openCache({ registry: `${cache.host}/metalk8s-cache`, mode: 'readwrite', credentials: () => undefined }, a.store);
    const bytes = Buffer.from('a package\n');
    await a.store.put(sha256Digest(bytes), bytes, 'test blob');
    const b = runner('blobs');
    openCache({ registry: `${cache.host}/metalk8s-cache`, mode: 'read', credentials: () => undefined }, b.store);
    expect(await b.store.has(sha256Digest(bytes))).toBe(true);
    expect(readFileSync(b.store.path(sha256Digest(bytes)))).toEqual(bytes);
    expect(await b.store.has(sha256Digest('never stored'))).toBe(false);
  });
});
