// Real servers on 127.0.0.1 for tests and benchmarks: Debian's docker-registry and nginx, each
// with every path under a given directory. No test-runner imports: bench/ uses them too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { requireExecutable } from '../buildchain/tools.ts';

export interface LocalServer {
  host: string;
  port: number;
  /** What the server wrote to its log so far. */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Stops a server process with SIGTERM and waits for it; nothing to do once it has exited. */
function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  };
}

/** Waits until `port` accepts a TCP connection (a request could land in the server's log). */
async function serving(child: ChildProcess, port: number, logFile: string, what: string): Promise<LocalServer> {
  const stop = stopper(child);
  for (let i = 0; i < 200 && child.exitCode === null; i += 1) {
    const listening = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      }).once('error', () => resolve(false));
    });
    if (listening) return { host: `127.0.0.1:${port}`, port, log: () => readLog(logFile), stop };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await stop();
  throw new Error(`${what} did not start:\n${readLog(logFile)}`);
}

/**
 * docker-registry with its storage under `dir`. Its log (access lines included) goes to a file,
 * not a pipe: a caller blocking its event loop would otherwise stall the registry.
 */
export async function startDockerRegistry(dir: string, options: { port?: number } = {}): Promise<LocalServer> {
  const port = options.port ?? (await freePort());
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'registry.log');
  const fd = openSync(logFile, 'w');
  const child = spawn(requireExecutable('docker-registry'), ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  return serving(child, port, logFile, 'docker-registry');
}

/**
 * nginx with `server` as the body of its only server block. By default one process and no user
 * switch, so the files it serves may sit in directories only the current user can read; with
 * `workers`, a master and that many workers as in production (run as root, workers drop to
 * nobody: the served files must be world-readable). `port`: that one (the demo keeps its ports
 * from run to run), else a free one.
 */
export async function startNginxServer(
  dir: string,
  server: string,
  options: { workers?: number; port?: number } = {},
): Promise<LocalServer> {
  const binary = requireExecutable('nginx');
  const port = options.port ?? (await freePort());
  const errorLog = join(dir, 'error.log');
  const conf = join(dir, 'nginx.conf');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
    (kind) => `    ${kind}_temp_path ${join(dir, kind)};`,
  );
  writeFileSync(
    conf,
    [
      'daemon off;',
      ...(options.workers ? [`worker_processes ${options.workers};`] : ['master_process off;']),
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '    access_log off;',
      ...temp,
      '    server {',
      `        listen 127.0.0.1:${port};`,
      server,
      '    }',
      '}',
      '',
    ].join('\n'),
  );
  const check = spawnSync(binary, ['-t', '-q', '-p', dir, '-c', conf, '-e', errorLog], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx rejects the configuration:\n${check.stderr}${readLog(errorLog)}`);
  const child = spawn(binary, ['-p', dir, '-c', conf, '-e', errorLog], { stdio: 'ignore' });
  return serving(child, port, errorLog, 'nginx');
}

export interface Containerd {
  /** The socket `ctr --address` takes. */
  address: string;
  stop(): Promise<void>;
}

/**
 * A containerd daemon of its own (root, state and socket under `dir`, no CRI plugin), as the
 * container runtime of a node. containerd needs root.
 */
export async function startContainerd(dir: string): Promise<Containerd> {
  const binary = requireExecutable('containerd');
  const address = join(dir, 'containerd.sock');
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'containerd.log');
  const fd = openSync(logFile, 'w');
  const child = spawn(binary, ['--config', join(dir, 'config.toml')], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const stop = stopper(child);
  for (let i = 0; i < 200 && child.exitCode === null; i += 1) {
    if (readLog(logFile).includes('containerd successfully booted')) return { address, stop };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await stop();
  throw new Error(`containerd did not start:\n${readLog(logFile)}`);
}
