// The example Solution (test/fixtures/example-solution) built with images laid out beside it,
// read back by real readers and validated; then archives that break each rule, named with the
// path and the rule.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireTool, runCli, tempDir } from '../../test/helpers.ts';
import { exampleSolutionSource } from '../../test/example-solution.ts';
import { writeIso } from '../../buildchain/iso9660/writer.ts';
import { validateSolution } from './validate.ts';

describe('Solution ISOs', () => {
  it('builds the example Solution, which real readers and validate accept', { timeout: 60_000 }, async () => {
    const source = await exampleSolutionSource();
    const iso = join(tempDir(), 'example-solution-1.0.0.iso');
    const built = await runCli(['solution', 'build', source, '-o', iso], { entry: 'toolkit.ts', env: { SOURCE_DATE_EPOCH: '1600000000' } });
    expect([built.code, built.stderr]).toEqual([0, '']);
    expect(built.stdout).toMatch(/^[0-9a-f]{64}  .* \(Example 1\.0\.0\)\n$/);

    expect(execFileSync(requireTool('isoinfo'), ['-d', '-i', iso], { encoding: 'utf8' })).toMatch(/Volume id: Example 1\.0\.0/);
    const listed = execFileSync(requireTool('isoinfo'), ['-R', '-f', '-i', iso], { encoding: 'utf8' }).split('\n');
    for (const path of ['/product.txt', '/registry-config.inc.j2', '/operator/deploy/crds/example_v1alpha1_counter_crd.yaml', '/ui/deployment.yaml', '/images/example-ui/1.0.0/manifest.json']) {
      expect(listed, path).toContain(path);
    }
    const extracted = tempDir();
    execFileSync(requireTool('bsdtar'), ['-xf', iso, '-C', extracted]);
    expect(readFileSync(join(extracted, 'product.txt'), 'utf8')).toBe(
      'NAME=Example\nVERSION=1.0.0\nREQUIRE_METALK8S=">=2.4.0 <3.0.0"\nARCHIVE_LAYOUT_VERSION=1\nGIT=\nBUILD_TIMESTAMP=2020-09-13T12:26:40Z\n');
    expect(readFileSync(join(extracted, 'registry-config.inc.j2'), 'utf8')).toContain('location = "/v2/{{ repository }}/example-ui/manifests/1.0.0"');
    // The layer both images share is stored once.
    const report = execFileSync(requireTool('xorriso'), ['-indev', iso, '-find', '/images', '-type', 'f', '-exec', 'report_lba'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lbas = report.split('\n').filter((line) => line.includes('File data lba')).map((line) => line.split(/\s*,\s*/)[1]);
    expect(new Set(lbas).size).toBeLessThan(lbas.length);

    const validated = await runCli(['solution', 'validate', iso], { entry: 'toolkit.ts' });
    expect([validated.code, validated.stdout]).toEqual([0, `${iso}: a valid Solution archive (Example 1.0.0)\n`]);
  });

  it('builds and validates a Solution without a UI; refuses a source asking for another archive layout', { timeout: 60_000 }, async () => {
    const source = await exampleSolutionSource();
    rmSync(join(source, 'ui'), { recursive: true });
    const iso = join(tempDir(), 'no-ui.iso');
    const built = await runCli(['solution', 'build', source, '-o', iso], { entry: 'toolkit.ts' });
    expect([built.code, built.stderr]).toEqual([0, '']);
    const { violations } = await validateSolution(iso);
    expect(violations).toEqual([]);

    writeFileSync(join(source, 'product.txt'), `${readFileSync(join(source, 'product.txt'), 'utf8')}ARCHIVE_LAYOUT_VERSION=2\n`);
    const refused = await runCli(['solution', 'build', source, '-o', join(tempDir(), 'v2.iso')], { entry: 'toolkit.ts' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/product\.txt: ARCHIVE_LAYOUT_VERSION=2, but solution build writes layout version 1\n$/);
  });

  it('names the path and the rule of each violation, and refuses to build such a Solution', { timeout: 60_000 }, async () => {
    const source = await exampleSolutionSource();
    writeFileSync(join(source, 'product.txt'), 'NAME=Example\nVERSION=1.0\nREQUIRE_METALK8S=">=banana"\n');
    rmSync(join(source, 'operator/deploy/role.yaml'));
    writeFileSync(join(source, 'ui/deployment.yaml'), 'kind: [unclosed\n');
    symlinkSync('../../etc/passwd', join(source, 'ui/escape'));
    symlinkSync('/etc/shadow', join(source, 'ui/absolute'));
    const iso = join(tempDir(), 'bad.iso');
    const refused = await runCli(['solution', 'build', source, '-o', iso], { entry: 'toolkit.ts' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the Solution does not follow the archive guidelines');

    // The same tree written as a plain ISO: validate lists every violation.
    const tree = join(tempDir(), 'tree');
    cpSync(source, tree, { recursive: true, verbatimSymlinks: true });
    await writeIso(tree, iso, { volumeId: 'Other 2.0' });
    const { violations } = await validateSolution(iso);
    const said = violations.map((v) => `${v.path}: ${v.rule}`);
    expect(said).toEqual(expect.arrayContaining([
      'product.txt: VERSION "1.0" is not a semantic version',
      'product.txt: REQUIRE_METALK8S ">=banana" is not a semver range',
      'product.txt: ARCHIVE_LAYOUT_VERSION is "", expected 1',
      '/: volume id "Other 2.0" is not "Example 1.0" (NAME VERSION)',
      'operator/deploy/role.yaml: missing: the Solution archive guidelines require it',
      expect.stringMatching(/^ui\/deployment\.yaml: invalid YAML: /),
      'ui/escape: symlink to ../../etc/passwd leaves the archive',
      'ui/absolute: absolute symlink to /etc/shadow',
      'registry-config.inc.j2: missing: the nginx registry configuration of the images (toolkit registry-config)',
    ]));
    // Names beyond level 3 (genisoimage allows 37 characters on request).
    const long = join(tempDir(), 'long.iso');
    writeFileSync(join(tree, 'ui', 'a-file-name-of-thirty-four-bytes.x'), '');
    execFileSync(requireTool('genisoimage'), ['-quiet', '-R', '-J', '-max-iso9660-filenames', '-V', 'Example 1.0', '-o', long, tree]);
    expect((await validateSolution(long)).violations.map((v) => `${v.path}: ${v.rule}`)).toContain(
      'ui/a-file-name-of-thirty-four-bytes.x: ISO 9660 identifier "A_FILE_NAME_OF_THIRTY_FOUR_BYTES.X" longer than 30 bytes (conformance level 3)');

    const cli = await runCli(['solution', 'validate', iso], { entry: 'toolkit.ts' });
    expect([cli.code, cli.stderr]).toEqual([1, `toolkit: ${iso}: ${violations.length} violation(s) of the Solution archive guidelines\n`]);
    expect(cli.stdout).toContain('ui/absolute: absolute symlink to /etc/shadow\n');
  });
});
