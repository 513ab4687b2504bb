// Generated source trees for the ISO writer's property tests, from a seed: the same seed gives
// the same tree. They gather what real trees only sometimes have: names up to 255 bytes sharing
// long prefixes (ISO 9660 level-3 identifiers then collide by thousands), several dots,
// non-ASCII names and names differing only in case, deep directories, long symlink targets,
// hard links across directories, empty files and directories, and, when asked, one directory
// of more than 20,000 entries.
import { linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

/** mulberry32: a small seeded generator, enough to vary trees reproducibly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TreeShape {
  /** Entries spread over the ordinary directories. */
  entries: number;
  /** One more directory holding this many files (0: none). */
  hugeDirectory: number;
}

const PIECES = ['a', 'Z', '.', '-', '_', ' ', 'é', 'ß', '日本', '🚀', 'x.y', 'README', 'readme', '0', '~', '+', 'ø'];

/** Truncates a name to at most `max` UTF-8 bytes without cutting a character. */
function fitBytes(name: string, max: number): string {
  let out = '';
  for (const char of name) {
    if (Buffer.byteLength(out + char, 'utf8') > max) break;
    out += char;
  }
  return out;
}

export function makeTree(root: string, seed: number, shape: TreeShape): { files: number; directories: number } {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (n: number): number => Math.floor(random() * n);
  const prefixes = [
    '',
    'x'.repeat(180),
    'shared-prefix-of-many-names-'.repeat(5),
    'pkg-1.2.3.el7.x86_64.',
    'ÆØÅ-'.repeat(20),
  ];
  const name = (taken: Set<string>): string => {
    for (;;) {
      let text = pick(prefixes);
      const pieces = 1 + int(8);
      for (let i = 0; i < pieces; i++) text += pick(PIECES);
      text += String(int(100_000));
      if (random() < 0.3) text += pick(['.tar.gz', '.', '.a.b.c', '.yaml', '.TXT', '.tar.gz.sha256']);
      text = fitBytes(text, random() < 0.2 ? 255 : 64 + int(192));
      if (text === '.' || text === '..' || (text.endsWith('.') && random() < 0.5)) continue;
      // Case-only differences: the same name with another case, when free.
      const variant = random() < 0.15 ? text.toUpperCase() : text;
      if (!taken.has(variant) && Buffer.byteLength(variant, 'utf8') <= 255) {
        taken.add(variant);
        return variant;
      }
    }
  };

  const directories = [root];
  const takenIn = new Map<string, Set<string>>([[root, new Set()]]);
  const files: string[] = [];
  // A chain deeper than ISO 9660's 8 levels, then the rest placed at random.
  let deep = root;
  for (let level = 0; level < 12; level++) {
    const taken = takenIn.get(deep)!;
    deep = join(deep, name(taken));
    mkdirSync(deep);
    directories.push(deep);
    takenIn.set(deep, new Set());
  }
  for (let i = 0; i < shape.entries; i++) {
    const parent = pick(directories);
    const taken = takenIn.get(parent)!;
    const path = join(parent, name(taken));
    const roll = random();
    if (roll < 0.15) {
      mkdirSync(path);
      if (random() < 0.2) chmodSync(path, 0o750);
      directories.push(path);
      takenIn.set(path, new Set());
    } else if (roll < 0.25) {
      // Long targets: several components of up to 255 bytes, relative or absolute.
      const parts = Array.from({ length: 1 + int(12) }, () =>
        fitBytes(pick(prefixes) + pick(PIECES).repeat(1 + int(60)), 255),
      );
      symlinkSync(`${random() < 0.5 ? '/' : '../'}${parts.join('/')}`, path);
    } else if (roll < 0.32 && files.length > 0) {
      linkSync(pick(files), path);
    } else {
      const size = random() < 0.3 ? 0 : int(random() < 0.05 ? 300_000 : 3000);
      const body = Buffer.alloc(size);
      for (let b = 0; b < size; b += 97) body[b] = int(256);
      writeFileSync(path, body, { mode: pick([0o644, 0o600, 0o755, 0o444]) });
      files.push(path);
    }
  }
  if (shape.hugeDirectory > 0) {
    const huge = join(root, 'huge');
    mkdirSync(huge);
    // Names sharing 200 bytes: their 31-character identifiers all collide.
    const stem = 'gcloud_beta_compute_os-config_patch-deployments_'.repeat(4);
    for (let i = 0; i < shape.hugeDirectory; i++)
      writeFileSync(join(huge, `${stem}${i}.1.gz`), i % 10 === 0 ? `${i}\n` : '');
    directories.push(huge);
  }
  // Fixed times: a second writing of the tree gives the same bytes.
  for (const dir of directories.reverse()) utimesSync(dir, 1_600_000_000 + int(1e6), 1_600_000_000 + int(1e6));
  return { files: files.length, directories: directories.length };
}
