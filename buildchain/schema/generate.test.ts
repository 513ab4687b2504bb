import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, tempDir } from '../../test/helpers.ts';
import { generatedValidators, schemaFiles } from './generate.ts';

describe('generated validators', () => {
  it('are committed as their schemas generate them (npm run schemas writes them again)', () => {
    const generated = generatedValidators(PROJECT_ROOT);
    expect(schemaFiles(PROJECT_ROOT)).toEqual(
      expect.arrayContaining([
        'buildchain/oci/image.schema.json',
        'buildchain/oci/images.schema.json',
        'buildchain/rpm/packages.schema.json',
        'buildchain/sources/runtime.schema.json',
      ]),
    );
    for (const [file, code] of generated) {
      expect(readFileSync(join(PROJECT_ROOT, file), 'utf8') === code, `${file} is stale: run npm run schemas`).toBe(
        true,
      );
    }
  });

  it('refuse a schema ajv would not check strictly', () => {
    const root = tempDir();
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data/x.schema.json'), JSON.stringify({ type: 'object', properties: { a: { typo: 1 } } }));
    expect(() => generatedValidators(root)).toThrow(/strict mode: unknown keyword: "typo"/);
  });
});
