// nginx and containerd for a test, stopped after it (see servers.ts).
import { afterEach } from 'vitest';
import { tempDir } from './helpers.ts';
import {
  startContainerd as startContainerdIn,
  startNginxServer,
  type Containerd,
  type LocalServer,
} from './servers.ts';

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
});

/** Starts nginx with `server` as the body of its only server block; `log()` is its error log. */
export async function startNginx(server: string): Promise<LocalServer> {
  const started = await startNginxServer(tempDir('mk8s-nginx-'), server);
  running.push(started);
  return started;
}

/** Starts a containerd daemon of the test's own; `address` is its socket. */
export async function startContainerd(): Promise<Containerd> {
  const started = await startContainerdIn(tempDir('mk8s-containerd-'));
  running.push(started);
  return started;
}
