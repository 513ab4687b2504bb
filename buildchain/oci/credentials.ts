// Registry credentials where docker, podman and skopeo keep them: REGISTRY_AUTH_FILE (the
// containers-auth.json format), then $DOCKER_CONFIG/config.json or ~/.docker/config.json.
// Only stored `auths` entries are read; credential helpers would need their binaries.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';

export interface Credentials {
  username: string;
  password: string;
}

export type CredentialLookup = (host: string) => Credentials | undefined;

/** Docker Hub's credentials are stored under its legacy index URL. */
const ALIASES: Record<string, readonly string[]> = {
  'docker.io': ['https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io'],
  'registry-1.docker.io': ['docker.io', 'https://index.docker.io/v1/', 'index.docker.io'],
};

export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  files.push(join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json'));
  return files;
}

export function loadCredentials(files: readonly string[] = authFiles()): CredentialLookup {
  const entries = new Map<string, Credentials>();
  for (const file of [...files].reverse()) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    let auths: Record<string, { auth?: string; username?: string; password?: string }>;
    try {
      auths = (JSON.parse(text) as { auths?: typeof auths }).auths ?? {};
    } catch (error) {
      throw new BuildError(`${file}: not valid JSON (${(error as Error).message})`);
    }
    for (const [key, value] of Object.entries(auths)) {
      const credentials = decode(value, `${file}: auths["${key}"]`);
      if (credentials) entries.set(normalizeKey(key), credentials);
    }
  }
  return (host) => {
    for (const key of [host, ...(ALIASES[host] ?? [])]) {
      const found = entries.get(normalizeKey(key));
      if (found) return found;
    }
    return undefined;
  };
}

function normalizeKey(key: string): string {
  return key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

function decode(
  value: { auth?: string; username?: string; password?: string },
  where: string,
): Credentials | undefined {
  if (value.username !== undefined && value.password !== undefined)
    return { username: value.username, password: value.password };
  if (!value.auth) return undefined;
  const text = Buffer.from(value.auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw new BuildError(`${where}.auth: not base64 of "user:password"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
