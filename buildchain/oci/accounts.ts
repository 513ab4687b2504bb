// System accounts added to an image without running useradd in it: the base image's
// /etc/passwd, group, shadow and gshadow are edited as `useradd --system --user-group
// --no-create-home NAME` would (ids from the top of login.defs' SYS_UID/SYS_GID range, the group
// id equal to the user id when that is free, HOME and SHELL from /etc/default/useradd), and the
// edited files make a layer. Dates come from SOURCE_DATE_EPOCH, so the layer is reproducible.
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDotenv } from '../dotenv.ts';
import { BuildError } from '../errors.ts';
import { extractFromLayers } from './base-files.ts';
import type { Descriptor } from './media-types.ts';
import type { BlobStore } from '../store/blob-store.ts';

/** An account a build definition asks for; ids are chosen when not given. */
export interface AccountRequest {
  name: string;
  uid?: number;
  gid?: number;
}

/** A directory holding an image's account files (readable copies), with the modes they have in the image. */
export interface AccountsBelow {
  root: string;
  modes: ReadonlyMap<string, number>;
}

/** The account files of an image (paths relative to its root) with their content and mode. */
export interface AccountFile {
  path: string;
  text: string;
  mode: number;
}

const NAME = /^[a-z_][a-z0-9_-]*\$?$/;
const ACCOUNT_FILES = ['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow'] as const;
/** Files that decide ids and defaults, read with the account files. */
const ACCOUNT_SETTINGS = ['etc/login.defs', 'etc/default/useradd'] as const;

/**
 * The account files and settings of the image made of `layers`, unpacked into `dir` (created
 * here). Their modes are kept for the layer; the copies are made ours to read and rewrite
 * (shadow is often 0000, and the build need not run as root).
 */
export async function accountsOf(
  store: BlobStore,
  layers: readonly Descriptor[],
  dir: string,
  signal: AbortSignal,
): Promise<AccountsBelow> {
  await mkdir(dir, { recursive: true });
  const wanted = new Set<string>([...ACCOUNT_FILES, ...ACCOUNT_SETTINGS]);
  await extractFromLayers(store, layers, dir, (path) => wanted.has(path), 'the account files', signal);
  const modes = new Map<string, number>();
  for (const path of ACCOUNT_FILES) {
    const file = join(dir, path);
    if (!existsSync(file)) continue;
    modes.set(path, statSync(file).mode & 0o7777);
    chmodSync(file, 0o600);
  }
  return { root: dir, modes };
}

export function validAccountName(name: string): boolean {
  return NAME.test(name) && name.length <= 32;
}

/** login.defs' `KEY value` lines, if the file is present. */
function loginDefs(file: string): Map<string, string> {
  if (!existsSync(file)) return new Map();
  const pairs = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^\s*([A-Z_][A-Z0-9_]*)\s+(\S.*?)\s*$/.exec(line))
    .filter((match) => match !== null);
  return new Map(pairs.map((match) => [match[1]!, match[2]!]));
}

/** /etc/default/useradd, KEY=VALUE lines as in .env files, if present. */
function useraddDefaults(file: string, where: string): Map<string, string> {
  if (!existsSync(file)) return new Map();
  return new Map(
    [...parseDotenv(readFileSync(file, 'utf8'), `${where}: base /etc/default/useradd`)].map(([key, entry]) => [
      key,
      entry.value,
    ]),
  );
}

function idsOf(text: string, file: string): Map<number, string> {
  const ids = new Map<number, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const fields = line.split(':');
    const id = Number(fields[2]);
    if (fields.length < 3 || !Number.isInteger(id)) throw new BuildError(`${file}: cannot read the line "${line}"`);
    ids.set(id, fields[0]!);
  }
  return ids;
}

/** The highest id of [min, max] that `used` lacks, as shadow's useradd and groupadd pick for system accounts. */
function highestFree(used: ReadonlyMap<number, string>, min: number, max: number, what: string): number {
  for (let id = max; id >= min; id--) if (!used.has(id)) return id;
  throw new BuildError(`no free system ${what} id left between ${min} and ${max}`);
}

/**
 * The account files of the image rooted at `root` (a directory holding its /etc, as the base's
 * layers leave it; `modes` are the files' modes in the image) with `requests` added. `where`
 * names the definition's field in errors; `epoch` (seconds) gives shadow's date of last change.
 */
export function addAccounts(
  root: string,
  modes: ReadonlyMap<string, number>,
  requests: readonly AccountRequest[],
  where: string,
  epoch: number,
): AccountFile[] {
  const read = (path: string): AccountFile | undefined => {
    const file = join(root, path);
    if (!existsSync(file)) return undefined;
    const text = readFileSync(file, 'utf8');
    return { path, text: text === '' || text.endsWith('\n') ? text : `${text}\n`, mode: modes.get(path) ?? 0o644 };
  };
  const [passwd, group, shadow, gshadow] = ACCOUNT_FILES.map(read);
  if (!passwd || !group)
    throw new BuildError(`${where}: the base image has no /etc/passwd and /etc/group to add accounts to`);
  const defs = loginDefs(join(root, 'etc/login.defs'));
  const defaults = useraddDefaults(join(root, 'etc/default/useradd'), where);
  const number = (key: string, fallback: number): number => {
    const value = Number(defs.get(key));
    return defs.has(key) && Number.isInteger(value) ? value : fallback;
  };
  const uidMin = number('SYS_UID_MIN', 101);
  const uidMax = number('SYS_UID_MAX', number('UID_MIN', 1000) - 1);
  const gidMin = number('SYS_GID_MIN', 101);
  const gidMax = number('SYS_GID_MAX', number('GID_MIN', 1000) - 1);
  const home = defaults.get('HOME') ?? '/home';
  const shell = defaults.get('SHELL') ?? '/bin/bash';
  const day = Math.floor(epoch / 86400);

  const uids = idsOf(passwd.text, `${where}: base /etc/passwd`);
  const gids = idsOf(group.text, `${where}: base /etc/group`);
  const userNames = new Set(uids.values());
  const groupNames = new Set(gids.values());
  for (const request of requests) {
    if (!validAccountName(request.name))
      throw new BuildError(`${where}: "${request.name}" is not a valid account name`);
    if (userNames.has(request.name))
      throw new BuildError(`${where}: the user ${request.name} exists already in the image`);
    if (groupNames.has(request.name))
      throw new BuildError(`${where}: the group ${request.name} exists already in the image`);
    if (request.uid !== undefined && uids.has(request.uid))
      throw new BuildError(`${where}: uid ${request.uid} of ${request.name} belongs to ${uids.get(request.uid)!}`);
    if (request.gid !== undefined && gids.has(request.gid))
      throw new BuildError(`${where}: gid ${request.gid} of ${request.name} belongs to ${gids.get(request.gid)!}`);
    const uid = request.uid ?? highestFree(uids, uidMin, uidMax, 'user');
    const gid = request.gid ?? (gids.has(uid) ? highestFree(gids, gidMin, gidMax, 'group') : uid);
    uids.set(uid, request.name);
    gids.set(gid, request.name);
    userNames.add(request.name);
    groupNames.add(request.name);
    passwd.text += `${request.name}:x:${uid}:${gid}::${home}/${request.name}:${shell}\n`;
    group.text += `${request.name}:x:${gid}:\n`;
    // Locked password, no aging: what useradd --system writes.
    if (shadow) shadow.text += `${request.name}:!:${day}::::::\n`;
    if (gshadow) gshadow.text += `${request.name}:!::\n`;
  }
  return [passwd, group, shadow, gshadow].filter((file): file is AccountFile => file !== undefined);
}
