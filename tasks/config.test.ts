import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers.ts';
import { loadConfig, readVersionFile, SETTINGS, splitWords } from './config.ts';
import { parseDotenv } from '../buildchain/dotenv.ts';
import { schemaProblems } from '../buildchain/schema/validate.ts';
import validateSettings from './settings.validate.cjs';

describe('.env', () => {
  it('reads KEY=VALUE, export, quotes and comments', () => {
    const entries = parseDotenv(
      '# comment\n\nexport A=1\nB = two words # trailing\nC="quoted # kept \\"x\\""\nD=\'single $raw\'\nE=\n',
      '.env',
    );
    expect(Object.fromEntries([...entries].map(([k, v]) => [k, v.value]))).toEqual({
      A: '1',
      B: 'two words',
      C: 'quoted # kept "x"',
      D: 'single $raw',
      E: '',
    });
    expect(entries.get('B')!.origin).toBe('.env:4');
  });

  it('expands $NAME and ${NAME} from the environment, earlier lines and the defaults, not in single quotes', () => {
    const text =
      'P=libvirt\nA="--provider $P"\nB=${P}-x\nC=\'$P\'\nD="\\$P"\nE=$HOME_OF_TEST\nF=$VAGRANT_SNAPSHOT_NAME\n';
    const defaults = (name: string) => (name === 'VAGRANT_SNAPSHOT_NAME' ? 'snap' : undefined);
    const entries = parseDotenv(text, '.env', { environment: (name) => ({ HOME_OF_TEST: '/home/t' })[name], defaults });
    expect(Object.fromEntries([...entries].map(([k, v]) => [k, v.value]))).toEqual({
      P: 'libvirt',
      A: '--provider libvirt',
      B: 'libvirt-x',
      C: '$P',
      D: '$P',
      E: '/home/t',
      F: 'snap',
    });
    // The environment wins over the file for a reference too.
    expect(
      parseDotenv(text, '.env', { environment: (name) => ({ P: 'kvm', HOME_OF_TEST: '' })[name], defaults }).get('A')!
        .value,
    ).toBe('--provider kvm');
    expect(() => parseDotenv('A=1\nB="x $NOPE"\n', '/p/.env', {})).toThrow(
      '/p/.env:2: $NOPE names no earlier setting of this file, environment variable or known setting',
    );
    expect(() => parseDotenv('A=${1x}\n', '/p/.env', {})).toThrow('/p/.env:1: malformed reference ${1x}');
    // Without references (files that are not settings), a dollar sign is text.
    expect(parseDotenv('A=$B\n', 'f').get('A')!.value).toBe('$B');
  });

  it('names the file and line of a malformed line', () => {
    expect(() => parseDotenv('A=1\nB\n', '/p/.env')).toThrow('/p/.env:2: malformed line, expected KEY=VALUE: B');
    expect(() => parseDotenv('A="open\n', '/p/.env')).toThrow('/p/.env:1: unterminated " quote');
    expect(() => parseDotenv('1A=x\n', '/p/.env')).toThrow('/p/.env:1: malformed line');
  });
});

describe('settings', () => {
  function project(env: string): string {
    const root = tempDir();
    writeFileSync(join(root, 'VERSION'), 'VERSION_MAJOR=2\nVERSION_MINOR=4\nVERSION_PATCH=1\nVERSION_SUFFIX=-dev\n');
    writeFileSync(join(root, '.env'), env);
    return root;
  }

  it('takes defaults, then .env, then the environment', () => {
    const root = project(
      'PROJECT_NAME=FromDotenv\nBUILD_ROOT=/tmp/elsewhere\nSKOPEO_BIN=/opt/skopeo\nYUM_MIRROR_EPEL=http://127.0.0.1:8080/epel\n',
    );
    const config = loadConfig(root, {
      PROJECT_NAME: 'FromEnv',
      REGISTRY_MIRRORS: 'docker.io=127.0.0.1:5000, k8s.gcr.io=127.0.0.1:5001',
    });
    expect(config.projectName).toBe('FromEnv');
    expect(config.origin('PROJECT_NAME')).toBe('environment variable PROJECT_NAME');
    expect(config.buildRoot).toBe('/tmp/elsewhere');
    expect(config.isoRoot).toBe('/tmp/elsewhere/root');
    expect(config.bin.skopeo).toBe('/opt/skopeo');
    expect(config.origin('SKOPEO_BIN')).toBe(`${join(root, '.env')}:3`);
    expect(config.bin.git).toBe('git');
    expect(config.yumMirrors.get('epel')).toBe('http://127.0.0.1:8080/epel');
    expect([...config.registryMirrors]).toEqual([
      ['docker.io', '127.0.0.1:5000'],
      ['k8s.gcr.io', '127.0.0.1:5001'],
    ]);
    expect(config.vagrant.upArgs).toEqual([
      '--provision',
      '--no-destroy-on-error',
      '--parallel',
      '--provider',
      'virtualbox',
    ]);
    expect(config.version).toMatchObject({ full: '2.4.1-dev', short: '2.4' });
  });

  it("gives VAGRANT_UP_ARGS the provider it names, as the seed's example writes it", () => {
    const root = project(
      'VAGRANT_PROVIDER=libvirt\nVAGRANT_UP_ARGS="--provision --parallel --provider $VAGRANT_PROVIDER"\nGOFMT_BIN=gofmt\nOPERATOR_SDK_BIN=operator-sdk\n',
    );
    const config = loadConfig(root, {});
    expect(config.vagrant.upArgs).toEqual(['--provision', '--parallel', '--provider', 'libvirt']);
    expect(loadConfig(root, { VAGRANT_PROVIDER: 'docker' }).vagrant.upArgs.at(-1)).toBe('docker');
    expect(config.warnings).toEqual([]); // upstream's keys are known
  });

  it('resolves a relative BUILD_ROOT against the project and warns of unknown keys', () => {
    const root = project('BUILD_ROT=_oops\n');
    const config = loadConfig(root, {});
    expect(config.buildRoot).toBe(join(root, '_build'));
    expect(config.warnings[0]).toBe(
      `${join(root, '.env')}:1: unknown setting BUILD_ROT (did you mean 'BUILD_ROOT', 'BUILD_HOST'?)`,
    );
  });

  it('rejects bad values naming where they come from', () => {
    expect(() => loadConfig(project('SOURCE_DATE_EPOCH=yesterday\n'), {})).toThrow(
      /\.env:1: SOURCE_DATE_EPOCH must be a whole number/,
    );
    expect(() => loadConfig(project(''), { REGISTRY_MIRRORS: 'docker.io' })).toThrow(
      /environment variable REGISTRY_MIRRORS: REGISTRY_MIRRORS entry 'docker.io' is not SOURCE=MIRROR/,
    );
  });

  it('reads the HTTP timeouts in seconds, refusing what is not a positive number', () => {
    expect(loadConfig(project(''), {}).httpTimeouts).toEqual({ connectMs: 30_000, headerMs: 60_000, idleMs: 60_000 });
    const config = loadConfig(project('HTTP_CONNECT_TIMEOUT=5\nHTTP_IDLE_TIMEOUT=0.25\n'), {
      HTTP_HEADER_TIMEOUT: '90',
    });
    expect(config.httpTimeouts).toEqual({ connectMs: 5000, headerMs: 90_000, idleMs: 250 });
    for (const bad of ['0', '-1', 'ten', '', '1e3'])
      expect(() => loadConfig(project(`HTTP_IDLE_TIMEOUT=${bad}\n`), {})).toThrow(
        `.env:1: HTTP_IDLE_TIMEOUT must be a positive number of seconds, not "${bad}"`,
      );
    expect(() => loadConfig(project(''), { HTTP_CONNECT_TIMEOUT: '0' })).toThrow(
      'environment variable HTTP_CONNECT_TIMEOUT: HTTP_CONNECT_TIMEOUT must be a positive number of seconds, not "0"',
    );
  });

  it('checks .env values by settings.schema.json, naming the file and line', () => {
    const root = project('BUILD_ROOT=_b\nPULL_JOBS=0\n');
    expect(() => loadConfig(root, {})).toThrow(
      `${join(root, '.env')}:2: PULL_JOBS must be a positive whole number, not "0"`,
    );
    const commit = project('# the product source\nMETALK8S_SOURCE=none\nMETALK8S_COMMIT=v2.4.1\n');
    expect(() => loadConfig(commit, {})).toThrow(
      `${join(commit, '.env')}:3: METALK8S_COMMIT must be a full commit id (40 lowercase hex digits), not "v2.4.1"`,
    );
    expect(() => loadConfig(project('VAGRANT_NODES=ten\n'), {})).toThrow(
      /\.env:1: VAGRANT_NODES must be a number from 0 to 9, not "ten"/,
    );
    // The environment wins, and is checked where it is the value used.
    expect(loadConfig(root, { PULL_JOBS: '3' }).pullJobs).toBe(3);
    expect(() => loadConfig(project(''), { PULL_JOBS: '-1' })).toThrow(
      'environment variable PULL_JOBS: PULL_JOBS must be a positive whole number, not "-1"',
    );
    const mirrors = project('YUM_MIRROR_EPEL=http://127.0.0.1:8080/epel\nPULL_JOB=4\n');
    const config = loadConfig(mirrors, {});
    expect(config.yumMirrors.get('epel')).toBe('http://127.0.0.1:8080/epel');
    expect(config.warnings).toEqual([
      `${join(mirrors, '.env')}:2: unknown setting PULL_JOB (did you mean 'PULL_JOBS'?)`,
    ]);
  });

  it('has one table of settings, settings.schema.json, whose every entry says its default and use', () => {
    for (const [name, setting] of Object.entries(SETTINGS)) {
      expect(typeof setting.default, name).toBe('string');
      expect(setting.description.length, name).toBeGreaterThan(10);
    }
    // Every default follows its own rule.
    const defaults = Object.fromEntries(Object.entries(SETTINGS).map(([name, setting]) => [name, setting.default]));
    expect(schemaProblems(validateSettings, defaults)).toEqual([]);
  });

  it('reads the VERSION file and names its errors', () => {
    const root = tempDir();
    const file = join(root, 'VERSION');
    writeFileSync(file, 'VERSION_MAJOR=2\nVERSION_MINOR=x\nVERSION_PATCH=1\n');
    expect(() => readVersionFile(file)).toThrow(`${file}:2: VERSION_MINOR must be a whole number, not 'x'`);
    writeFileSync(file, 'VERSION_MAJOR=2\nVERSION_MINOR=4\nVERSION_PATCH=0\nVERSION_SUFFIX=\n');
    expect(readVersionFile(file).full).toBe('2.4.0');
  });

  it('splits command lines as a shell does', () => {
    expect(splitWords(`--a 'b c' "d e" f\\ g`, 'x')).toEqual(['--a', 'b c', 'd e', 'f g']);
    expect(() => splitWords(`'open`, 'VAGRANT_UP_ARGS')).toThrow(/VAGRANT_UP_ARGS: unterminated/);
  });
});

describe('the shared cache settings', () => {
  it('reads CACHE_REGISTRY and CACHE_MODE, and names the line of a malformed one', () => {
    const root = tempDir();
    writeFileSync(join(root, '.env'), 'CACHE_REGISTRY=registry.example.com:5000/farm/metalk8s-cache\n');
    expect(loadConfig(root, {}).cache).toEqual({
      registry: 'registry.example.com:5000/farm/metalk8s-cache',
      mode: 'readwrite',
    });
    expect(loadConfig(root, { CACHE_MODE: 'read' }).cache?.mode).toBe('read');
    expect(loadConfig(tempDir(), {}).cache).toBeUndefined();
    writeFileSync(join(root, '.env'), 'CACHE_REGISTRY=registry.example.com:5000\n');
    expect(() => loadConfig(root, {})).toThrow(/\/\.env:1: CACHE_REGISTRY=registry.example.com:5000: expected host/);
    writeFileSync(join(root, '.env'), 'CACHE_REGISTRY=127.0.0.1:5000/cache\nCACHE_MODE=write\n');
    expect(() => loadConfig(root, {})).toThrow(
      /\/\.env:2: CACHE_MODE must be readwrite \(the default\) or read \(never pushes\), not "write"/,
    );
  });
});
