// External programs: where they are, and how to install them when they are not.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { BuildError } from './errors.ts';
import * as builtins from './builtins.ts';

/** The Debian package that ships each tool this project drives or tests against. */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  shellcheck: 'shellcheck',
  yamllint: 'yamllint',
  doit: 'python3-doit',
  python3: 'python3',
  hyperfine: 'hyperfine',
  time: 'time',
  xorriso: 'xorriso',
  osirrox: 'xorriso',
  isoinfo: 'genisoimage',
  genisoimage: 'genisoimage',
  mkisofs: 'genisoimage',
  bsdtar: 'libarchive-tools',
  skopeo: 'skopeo',
  'docker-registry': 'docker-registry',
  nginx: 'nginx',
  containerd: 'containerd',
  ctr: 'containerd',
  rpm: 'rpm',
  rpmbuild: 'rpm',
  rpmsign: 'rpm',
  createrepo_c: 'createrepo-c',
  dnf: 'dnf',
  sqlite3: 'sqlite3',
  'db5.3_load': 'db5.3-util',
  gpg: 'gnupg',
  gpgconf: 'gnupg',
  gpgv: 'gpgv',
  hardlink: 'util-linux',
  xz: 'xz-utils',
  zstd: 'zstd',
  bzip2: 'bzip2',
  git: 'git',
  objdump: 'binutils',
  vagrant: 'vagrant',
  'ssh-keygen': 'openssh-client',
  ruby: 'ruby',
  docker: 'docker.io',
  podman: 'podman',
  buildah: 'buildah',
  busybox: 'busybox-static',
  curl: 'curl',
  sha256sum: 'coreutils',
  'sphinx-build': 'python3-sphinx',
  latexmk: 'latexmk',
  kpsewhich: 'texlive-binaries',
  pdfinfo: 'poppler-utils',
  pdftotext: 'poppler-utils',
  script: 'bsdutils',
};

export function installHint(tool: string): string {
  const name = tool.split('/').pop() ?? tool;
  const pkg = DEBIAN_PACKAGES[name];
  return pkg ? `apt-get install -y ${pkg}` : `install '${name}' and make sure it is on PATH`;
}

/** Absolute path of an executable (a name looked up on PATH, or a path), or undefined. */
export function findExecutable(command: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = command.includes('/')
    ? [command]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return isAbsolute(candidate) ? candidate : join(process.cwd(), candidate);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Like findExecutable, but a missing tool is an error that says how to install it: the package
 * of `tool` when the command was configured under another name (VAGRANT_BIN=/opt/x/vagrant2).
 */
export function requireExecutable(command: string, setting?: string, tool = command): string {
  const found = findExecutable(command);
  if (!found) {
    const via = setting ? ` (${setting}=${command})` : '';
    throw new BuildError(`'${command}' not found${via}; install it with: ${installHint(tool)}`);
  }
  return found;
}

/**
 * Runs a tool to completion and answers its stdout; a failure is an error saying what was being
 * done and the end of what the tool said (its last 15 lines of stderr).
 */
export function runTool(
  file: string,
  args: readonly string[],
  options: { signal: AbortSignal; what: string; env?: NodeJS.ProcessEnv },
): Promise<string> {
  return new Promise((resolve, reject) => {
    builtins
      .childProcess()
      .execFile(
        file,
        args,
        { signal: options.signal, maxBuffer: 64 << 20, ...(options.env ? { env: options.env } : {}) },
        (error, stdout, stderr) => {
          if (!error) return resolve(String(stdout));
          const said = String(stderr).trim().split('\n').slice(-15).join('\n');
          reject(new BuildError(`${options.what}: ${file} failed${said ? `:\n${said}` : ` (${error.message})`}`));
        },
      );
  });
}
