// `npm run schemas`: writes the validator of every schema of the project (generate.ts), after a
// schema changed or ajv was upgraded.
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.ts';
import { projectRoot } from '../paths.ts';
import { generatedValidators } from './generate.ts';

async function main(): Promise<void> {
  const root = projectRoot();
  for (const [file, code] of generatedValidators(root)) {
    await writeFileAtomic(join(root, file), code);
    process.stdout.write(`${file}\n`);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
});
