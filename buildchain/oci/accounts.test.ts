// System accounts added without useradd in the image: the same lines as shadow's own useradd
// (Debian's, run with --prefix on the same files) writes, in a layer whose files pwck and grpck
// accept, with the base's modes.
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool, tempDir } from '../../test/helpers.ts';
import { addAccounts } from './accounts.ts';
import { loadBuildSpec } from './build-spec.ts';
import { buildImage } from './builder.ts';
import { digestHex } from '../store/sha256.ts';
import { writeDirLayout } from './layout.ts';
import type { ImagePuller } from './puller.ts';
import { BlobStore } from '../store/blob-store.ts';

const run = promisify(execFile);
const EPOCH = 1_600_000_000;

/** The /etc of a CentOS 7 image, in short: system ids from 201 to 999, group 999 taken by `input`. */
function centosEtc(root: string): string {
  const etc = join(root, 'etc');
  mkdirSync(join(etc, 'default'), { recursive: true });
  writeFileSync(
    join(etc, 'passwd'),
    'root:x:0:0:root:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\ndbus:x:81:81:System message bus:/:/sbin/nologin\nsystemd-network:x:192:192:systemd Network Management:/:/sbin/nologin\n',
  );
  writeFileSync(join(etc, 'group'), 'root:x:0:\nbin:x:1:\ndbus:x:81:\nsystemd-network:x:192:\ninput:x:999:\n');
  writeFileSync(
    join(etc, 'shadow'),
    'root:locked::0:99999:7:::\nbin:*:17834:0:99999:7:::\ndbus:!!:17834::::::\nsystemd-network:!!:17834::::::\n',
  );
  writeFileSync(join(etc, 'gshadow'), 'root:::\nbin:::\ndbus:!::\nsystemd-network:!::\ninput:!::\n');
  writeFileSync(
    join(etc, 'login.defs'),
    'MAIL_DIR /var/spool/mail\nPASS_MAX_DAYS 99999\nUID_MIN 1000\nSYS_UID_MIN 201\nSYS_UID_MAX 999\nGID_MIN 1000\nSYS_GID_MIN 201\nSYS_GID_MAX 999\nCREATE_HOME yes\n',
  );
  writeFileSync(join(etc, 'default', 'useradd'), 'GROUP=100\nHOME=/home\nSHELL=/bin/bash\nSKEL=/etc/skel\n');
  chmodSync(join(etc, 'shadow'), 0);
  chmodSync(join(etc, 'gshadow'), 0);
  return root;
}

const MODES = new Map([
  ['etc/passwd', 0o644],
  ['etc/group', 0o644],
  ['etc/shadow', 0],
  ['etc/gshadow', 0],
]);

describe('system accounts in an image', () => {
  it('writes what useradd --system --user-group --no-create-home writes', async () => {
    const ours = centosEtc(tempDir());
    const theirs = tempDir();
    cpSync(ours, theirs, { recursive: true });
    const useradd = requireTool('useradd');
    for (const name of ['keepalived_script', 'prometheus']) {
      await run(useradd, ['--prefix', theirs, '--system', '--user-group', '--no-create-home', name], {
        env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) },
      });
    }
    const files = addAccounts(
      ours,
      MODES,
      [{ name: 'keepalived_script' }, { name: 'prometheus' }],
      'image.yaml: layers[0].users',
      EPOCH,
    );
    expect(files.map((file) => file.path)).toEqual(['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow']);
    for (const file of files) expect(file.text, file.path).toBe(readFileSync(join(theirs, file.path), 'utf8'));
    expect(files.map((file) => file.mode)).toEqual([0o644, 0o644, 0, 0]);
    // uid 999; gid 999 is input's, so the group takes the next free one, as useradd does.
    expect(files[0]!.text).toContain('keepalived_script:x:999:998::/home/keepalived_script:/bin/bash\n');
  });

  it('keeps asked ids and refuses names and ids the image has', () => {
    const root = centosEtc(tempDir());
    const [passwd, group] = addAccounts(root, MODES, [{ name: 'app', uid: 500, gid: 600 }], 'w', EPOCH);
    expect(passwd!.text).toContain('app:x:500:600::/home/app:/bin/bash\n');
    expect(group!.text).toContain('app:x:600:\n');
    expect(() => addAccounts(root, MODES, [{ name: 'dbus' }], 'image.yaml: layers[1].users', EPOCH)).toThrow(
      'image.yaml: layers[1].users: the user dbus exists already in the image',
    );
    expect(() => addAccounts(root, MODES, [{ name: 'input' }], 'w', EPOCH)).toThrow(
      'w: the group input exists already in the image',
    );
    expect(() => addAccounts(root, MODES, [{ name: 'app', uid: 81 }], 'w', EPOCH)).toThrow(
      'w: uid 81 of app belongs to dbus',
    );
    expect(() => addAccounts(tempDir(), MODES, [{ name: 'app' }], 'w', EPOCH)).toThrow(
      'w: the base image has no /etc/passwd and /etc/group to add accounts to',
    );
  });

  it(
    'builds a users layer on a base image: base modes, pwck and grpck accept it, same digest twice',
    { timeout: 60_000 },
    async () => {
      const work = tempDir();
      centosEtc(join(work, 'rootfs'));
      writeFileSync(join(work, 'base.yaml'), 'name: base\nversion: "1"\nlayers:\n  - {directory: rootfs, to: /}\n');
      writeFileSync(
        join(work, 'image.yaml'),
        'name: keepalived\nversion: "1"\nlayers:\n  - users: [keepalived_script]\n  - users: [{name: extra, uid: 700}]\n',
      );
      const store = new BlobStore(join(work, 'store'));
      const signal = new AbortController().signal;
      const base = await buildImage(loadBuildSpec(join(work, 'base.yaml')), { store, sourceDateEpoch: EPOCH, signal });
      // The base is already in the store: a puller that hands it over stands in for the registry.
      const puller = { pull: async () => base } as unknown as ImagePuller;
      const spec = {
        ...loadBuildSpec(join(work, 'image.yaml')),
        base: { registry: 'local', repository: 'base', digest: base.top.digest },
      };
      const image = await buildImage(spec, { store, puller, sourceDateEpoch: EPOCH, signal });
      expect((await buildImage(spec, { store, puller, sourceDateEpoch: EPOCH, signal })).top.digest).toBe(
        image.top.digest,
      );
      const layout = join(work, 'layout');
      await writeDirLayout(store, image, layout);
      const manifest = JSON.parse(readFileSync(join(layout, 'manifest.json'), 'utf8')) as {
        layers: { digest: string }[];
      };
      expect(manifest.layers).toHaveLength(3);

      const bsdtar = requireTool('bsdtar');
      const last = join(layout, digestHex(manifest.layers[2]!.digest));
      const listing = (await run(bsdtar, ['-tvf', last])).stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/))
        .map((f) => `${f[0]} ${f.slice(8).join(' ')}`);
      expect(listing).toEqual([
        'drwxr-xr-x etc/',
        '-rw-r--r-- etc/group',
        '---------- etc/gshadow',
        '-rw-r--r-- etc/passwd',
        '---------- etc/shadow',
      ]);
      // The image as containers see it: every layer unpacked in order.
      const rootfs = join(work, 'image-root');
      mkdirSync(rootfs);
      for (const layer of manifest.layers)
        await run(bsdtar, ['-xpf', join(layout, digestHex(layer.digest)), '-C', rootfs]);
      const passwd = readFileSync(join(rootfs, 'etc/passwd'), 'utf8');
      expect(passwd.split('\n').slice(-3)).toEqual([
        'keepalived_script:x:999:998::/home/keepalived_script:/bin/bash',
        'extra:x:700:700::/home/extra:/bin/bash',
        '',
      ]);
      expect(readFileSync(join(rootfs, 'etc/shadow'), 'utf8')).toContain(
        `extra:!:${Math.floor(EPOCH / 86400)}::::::\n`,
      );
      const etc = (name: string) => join(rootfs, 'etc', name);
      await run(requireTool('pwck'), ['-r', '-q', etc('passwd'), etc('shadow')]);
      await run(requireTool('grpck'), ['-r', etc('group'), etc('gshadow')]);
    },
  );

  it('names the field of a bad users entry', () => {
    const dir = tempDir();
    const bad = (layers: string) => () => {
      writeFileSync(join(dir, 'image.yaml'), `name: x\nversion: "1"\nlayers:\n${layers}`);
      return loadBuildSpec(join(dir, 'image.yaml'));
    };
    expect(bad('  - users: []\n')).toThrow(/image\.yaml:4: layers\[0\]\.users must be a non-empty list/);
    expect(bad('  - users: [Root]\n')).toThrow(/image\.yaml:4: layers\[0\]\.users\[0\] is not a valid account name/);
    expect(bad('  - users: [{name: app, uid: "x"}]\n')).toThrow(
      /layers\[0\]\.users\[0\] \(app\)\.uid must be an integer from 1 to 65534/,
    );
  });
});
