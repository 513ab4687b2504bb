// Commands on archives that both ./toolkit.ts and the node-side agent offer: a node reads ISOs
// without mounting them (where mount is not allowed) and checks a Solution before importing it.
import { resolve } from 'node:path';
import { positionals, type Command } from '../buildchain/command-line.ts';
import { BuildError } from '../buildchain/errors.ts';
import { IsoReader } from '../buildchain/iso9660/reader.ts';

async function withIso<T>(path: string, use: (reader: IsoReader) => Promise<T>): Promise<T> {
  const reader = await IsoReader.open(path);
  try {
    return await use(reader);
  } finally {
    await reader.close();
  }
}

export const ARCHIVE_COMMANDS: Record<string, Command> = {
  'iso ls': {
    synopsis: 'FILE [--json]',
    summary: 'list an ISO (Rock Ridge names, else Joliet)',
    async run(argv) {
      const { values, args } = positionals(argv, { json: { type: 'boolean' } }, ['FILE']);
      const info = await withIso(args[0]!, (reader) => reader.list());
      if (values.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      else {
        for (const entry of info.entries) {
          const mode = (entry.mode & 0o7777).toString(8).padStart(4, '0');
          const suffix = entry.type === 'directory' ? '/' : entry.target !== undefined ? ` -> ${entry.target}` : '';
          process.stdout.write(`${entry.type[0]} ${mode} ${String(entry.size).padStart(12)} ${entry.path}${suffix}\n`);
        }
      }
      return 0;
    },
  },
  'iso extract': {
    synopsis: 'FILE DIR',
    summary: 'extract an ISO without mounting it',
    async run(argv) {
      const { args } = positionals(argv, {}, ['FILE', 'DIR']);
      const entries = await withIso(args[0]!, (reader) => reader.extract(args[1]!));
      process.stdout.write(`extracted ${entries.length} entries into ${args[1]}\n`);
      return 0;
    },
  },
  'solution validate': {
    synopsis: 'FILE',
    summary: 'check a Solution ISO against the archive guidelines',
    async run(argv) {
      const { args } = positionals(argv, {}, ['FILE']);
      const { validateSolution } = await import('./solution/validate.ts'); // YAML and semver: loaded only here
      const { name, version, violations } = await validateSolution(resolve(args[0]!));
      if (violations.length === 0) {
        process.stdout.write(`${args[0]}: a valid Solution archive (${name ?? '?'} ${version ?? '?'})\n`);
        return 0;
      }
      process.stdout.write(violations.map((violation) => `${violation.path}: ${violation.rule}\n`).join(''));
      throw new BuildError(`${args[0]}: ${violations.length} violation(s) of the Solution archive guidelines`);
    },
  },
};
