import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findExecutable } from '../buildchain/tools.ts';
import { requireTool, runEngine } from '../test/helpers.ts';
import { productRepo } from '../test/product-repo.ts';
import { metalk8sTasks, project } from '../test/project.ts';

const failures = (report: Awaited<ReturnType<typeof runEngine>>) =>
  report.finished.filter((r) => r.result === 'fail').map((r) => `${r.name}: ${r.error ?? ''}`);
const output = (report: Awaited<ReturnType<typeof runEngine>>, task: string) =>
  report.finished.find((r) => r.name === task)?.out ?? '';
const productTxt = (root: string) => readFileSync(join(root, '_build/root/product.txt'), 'utf8');
/** What the ISO tree needs of the documentation, without the images and packages. */
const TASKS = ['documentation', '_iso_add_tree:product.txt'];

function productProject(files: Record<string, string> = {}) {
  const repo = productRepo();
  const head = Object.keys(files).length > 0 ? repo.commit(files, 'docs') : repo.head;
  return project({ '.env': `METALK8S_SOURCE=${repo.dir}\nMETALK8S_COMMIT=${head}\nSOURCE_DATE_EPOCH=1600000000\n` });
}

describe("the product's documentation (doc, documentation)", () => {
  it(
    'puts docs/ built as a PDF in documentation/ under upstream name, again only when a document changes',
    { timeout: 120_000 },
    async () => {
      requireTool('sphinx-build');
      requireTool('latexmk');
      const root = productProject();
      const first = await runEngine(root, metalk8sTasks(root), TASKS);
      expect(failures(first)).toEqual([]);
      const pdf = join(root, '_build/root/documentation/user-guide.pdf');
      expect(readFileSync(pdf).subarray(0, 5).toString()).toBe('%PDF-');
      expect(productTxt(root)).toContain('\nDOCUMENTATION=pdf (documentation/user-guide.pdf)\n');
      // conf.py's extension Debian does not package is left out, and the log says so.
      const log = output(first, '_doc_deploy:user-guide.pdf');
      expect(log).toContain(
        "left out: Sphinx extension sphinxcontrib_github_alt (ModuleNotFoundError: No module named 'sphinxcontrib_github_alt'), not packaged by Debian",
      );
      // Its preamble's font package too where texlive-fonts-extra is not installed; Sphinx' and latexmk's lines follow.
      const hasLato = spawnSync(requireTool('kpsewhich'), ['lato.sty']).status === 0;
      expect(
        log.includes('left out: LaTeX package lato (not found by kpsewhich): \\usepackage[defaultsans]{lato}'),
      ).toBe(!hasLato);
      expect(log).toContain('build succeeded.');
      expect(log).toMatch(/^Latexmk: /m);
      if (findExecutable('pdftotext')) {
        expect(execFileSync('pdfinfo', [pdf], { encoding: 'utf8' })).toMatch(/^Title: +MetalK8s Documentation$/m);
        expect(execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' })).toContain('Run the bootstrap script.');
      }

      expect((await runEngine(root, metalk8sTasks(root), TASKS)).executed).toEqual([]);

      const page = join(root, '_build/product-source/docs/quickstart.rst');
      writeFileSync(page, 'Quickstart\n==========\n\nRun the bootstrap script, then expand.\n');
      const changed = await runEngine(root, metalk8sTasks(root), TASKS);
      expect(failures(changed)).toEqual([]);
      expect(changed.executed).toEqual(['_doc_deploy:user-guide.pdf']);
      if (findExecutable('pdftotext'))
        expect(execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' })).toContain('then expand.');
    },
  );

  it('deploys the HTML tree without latexmk, and product.txt and the log say so', { timeout: 120_000 }, async () => {
    requireTool('sphinx-build');
    const root = productProject();
    const report = await runEngine(root, metalk8sTasks(root, { LATEXMK_BIN: '/nonexistent/latexmk' }), TASKS);
    expect(failures(report)).toEqual([]);
    const documentation = join(root, '_build/root/documentation');
    expect(readFileSync(join(documentation, 'quickstart.html'), 'utf8')).toContain('Run the bootstrap script.');
    expect(existsSync(join(documentation, 'user-guide.pdf'))).toBe(false);
    expect(existsSync(join(documentation, '.doctrees'))).toBe(false);
    const note =
      'html (latexmk not installed, LATEXMK_BIN=/nonexistent/latexmk: apt-get install -y latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended tex-gyre)';
    expect(productTxt(root)).toContain(`\nDOCUMENTATION=${note}\n`);
    expect(output(report, '_doc_deploy:html').split('\n')[0]).toBe(`documentation/: HTML, not PDF: ${note}`);
    expect(report.executed).not.toContain('doc:pdf');
  });

  it(
    'fails naming the document of a Sphinx error, and the apt-get line when Sphinx is missing',
    { timeout: 120_000 },
    async () => {
      requireTool('sphinx-build');
      const root = productProject({ 'docs/quickstart.rst': 'Quickstart\n==========\n\n.. no-such-directive::\n' });
      const env = { LATEXMK_BIN: '/nonexistent/latexmk' };
      const broken = await runEngine(root, metalk8sTasks(root, env), TASKS);
      expect(failures(broken)).toEqual([
        '_doc_deploy:html: Sphinx ERROR: docs/quickstart.rst:4: Unknown directive type "no-such-directive".',
      ]);
      expect(existsSync(join(root, '_build/root/documentation'))).toBe(false);
      expect(existsSync(join(root, '_build/docs/html'))).toBe(false);

      // A conf.py that does not run: named, with Python's reason.
      const badConf = productProject({ 'docs/conf.py': 'extensions = [\n' });
      const conf = await runEngine(badConf, metalk8sTasks(badConf, env), TASKS);
      expect(conf.finished.find((r) => r.name === '_doc_deploy:html')!.error).toMatch(
        /^reading \S+\/_build\/product-source\/docs\/conf\.py: \S*python3 failed:\n[^]*There is a syntax error in your configuration file: .*\(conf\.py, line 1\)/,
      );

      // LaTeX stopping on the preamble: the .tex file and LaTeX's message, and nothing deployed.
      const badTex = productProject({
        'docs/conf.py':
          "latex_elements = {'preamble': r'\\nosuchcommand'}\nlatex_documents = [('index', 'Doc.tex', 'Doc', 'Me', 'manual')]\n",
      });
      const tex = await runEngine(badTex, metalk8sTasks(badTex), TASKS);
      expect(tex.finished.find((r) => r.name === '_doc_deploy:user-guide.pdf')!.error).toMatch(
        /^latexmk failed \(exit \d+\) on Doc\.tex, written by Sphinx from docs\/:\n! Undefined control sequence\.\nl\.\d+ \\nosuchcommand/,
      );
      expect(existsSync(join(badTex, '_build/root/documentation'))).toBe(false);

      const missing = await runEngine(
        root,
        metalk8sTasks(root, { SPHINX_BUILD_BIN: '/nonexistent/sphinx-build' }),
        TASKS,
      );
      expect(missing.finished.find((r) => r.name === 'check_for:sphinx-build')!.error).toBe(
        "'/nonexistent/sphinx-build' not found (SPHINX_BUILD_BIN=/nonexistent/sphinx-build); install it with: apt-get install -y python3-sphinx",
      );

      const none = project({ '.env': 'METALK8S_SOURCE=none\n' });
      const without = await runEngine(none, metalk8sTasks(none), TASKS);
      expect(failures(without)).toEqual([]);
      expect(productTxt(none)).toContain('\nDOCUMENTATION=none (METALK8S_SOURCE=none)\n');
      expect(existsSync(join(none, '_build/root/documentation'))).toBe(false);
    },
  );
});
