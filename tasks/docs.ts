// doc, documentation: the product's documentation, built with Sphinx from the product source's
// docs/ as upstream's buildchain/docs.py builds it (doc:html, doc:pdf), and deployed into the ISO's
// documentation/: the PDF under upstream's name, or Sphinx' HTML tree where LaTeX is not installed.
// Upstream ran tox in a builder image; we run Debian's Sphinx, leaving out (and saying so) the
// conf.py extensions and LaTeX packages this machine lacks rather than failing on them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionContext, FunctionAction, TaskDefinition, TaskSpec } from '../buildchain/engine/task.ts';
import { removeTree } from '../buildchain/engine/file-tasks.ts';
import { BuildError } from '../buildchain/errors.ts';
import { copyFileAtomic, replaceDirectory } from '../buildchain/fs/atomic.ts';
import { listFiles } from '../buildchain/fs/walk.ts';
import {
  extensionOverrides,
  latexPackageFinder,
  preambleOverrides,
  readSphinxConf,
} from '../buildchain/sphinx/conf.ts';
import { runLatexmk, runSphinx, type RunOptions } from '../buildchain/sphinx/run.ts';
import { requireExecutable } from '../buildchain/tools.ts';
import { DOCUMENTATION_PDF, type BuildContext } from './context.ts';

/** What 2.4.1's documents read: docs/, and outside it conf.py's logos and one download. */
const DOC_INPUTS = ['docs', 'artwork', 'examples'];

export function docTasks(context: BuildContext): TaskDefinition[] {
  const { config } = context;
  const documentation = context.documentation();
  if (!config.product) {
    return [{ name: 'documentation', doc: 'Nothing to build: METALK8S_SOURCE=none (no documentation/).', actions: [] }];
  }
  const tree = config.product.tree;
  const out = join(config.buildRoot, 'docs');
  const iso = join(config.isoRoot, 'documentation');
  // Every task runs Sphinx itself, from the documents: the ISO's copy needs no other family's
  // subtask, which a delayed family cannot name before that family is created. Each has its
  // own work directories under BUILD_ROOT/docs, so that two can run at once.
  const workOf = (name: string) => join(out, name.replace(/:/g, '-'));
  const task = (
    name: string,
    target: string,
    action: (ctx: ActionContext, work: string) => Promise<void>,
  ): TaskSpec => ({
    name,
    task_dep: ['_build_root', '_iso_mkdir_root', '_product_source', 'check_for:sphinx-build'],
    // Listed once the product is unpacked: every file the documents are built from.
    file_dep: DOC_INPUTS.flatMap((dir) =>
      existsSync(join(tree, dir)) ? listFiles(join(tree, dir)).map((file) => join(tree, dir, file)) : [],
    ),
    uptodate: [config.bin.sphinxBuild, config.bin.latexmk, config.sourceDateEpoch ?? null],
    targets: [target],
    actions: [(ctx) => action(ctx, workOf(name))],
  });
  const html = (name: string, dir: string): TaskSpec => ({
    ...task(name, join(dir, 'index.html'), (ctx, work) =>
      replaceDirectory(dir, async (staging) => void (await sphinx(context, ctx, 'html', staging, work))),
    ),
    clean: removeTree(dir),
  });
  const pdf = (name: string, target: string): TaskSpec => ({
    ...task(name, target, (ctx, work) => buildPdf(context, ctx, work, target)),
    // Shared: the documents, the tools' names and SOURCE_DATE_EPOCH key it, so a runner takes
    // another's PDF of the same documents (not byte-reproducible across LaTeX runs: sharing it
    // makes the runners' ISOs the same bytes). Tool versions are not in the key: a farm's runners
    // are expected to share one image. The HTML tree is not shared: its target names only index.html.
    cache: true,
    clean: async (clean) => {
      await removeTree(workOf(name))(clean);
      await removeTree(target)(clean);
    },
  });
  return [
    {
      basename: 'doc',
      doc: "Build the product's documentation (docs/ of the product source) with Sphinx: doc:html, doc:pdf.",
      after: ['_product_source'],
      create: () => [
        { ...html('doc:html', join(out, 'html')), doc: `Build the documentation as HTML into ${join(out, 'html')}.` },
        { ...pdf('doc:pdf', join(out, DOCUMENTATION_PDF)), doc: `Build the documentation as PDF into ${out}.` },
      ],
    },
    {
      basename: '_doc_deploy',
      doc: `Build the documentation into the ISO tree (${iso}): the PDF, or the HTML tree without latexmk.`,
      after: ['_product_source'],
      create: () => {
        if (documentation.format === 'pdf')
          return [pdf(`_doc_deploy:${DOCUMENTATION_PDF}`, join(iso, DOCUMENTATION_PDF))];
        const spec = html('_doc_deploy:html', iso);
        const log: FunctionAction = (ctx) => ctx.log(`documentation/: HTML, not PDF: ${documentation.note}`);
        return [
          { ...spec, title: `_doc_deploy: documentation/ as ${documentation.note}`, actions: [log, ...spec.actions!] },
        ];
      },
    },
    {
      name: 'documentation',
      doc: `Put the documentation in the ISO tree: documentation/${documentation.format === 'pdf' ? DOCUMENTATION_PDF : ' (HTML)'}.`,
      task_dep: ['_doc_deploy'],
    },
  ];
}

/**
 * sphinx-build of the product's docs/ with `builder` into `dest`, from scratch (-E: a run reads
 * every document, so no state of an earlier run is carried), with what conf.py asks for and this
 * machine lacks left out and logged.
 */
async function sphinx(
  { config }: BuildContext,
  ctx: ActionContext,
  builder: 'html' | 'latex',
  dest: string,
  work: string,
  preamble = false,
) {
  const sphinxBuild = requireExecutable(config.bin.sphinxBuild, 'SPHINX_BUILD_BIN', 'sphinx-build');
  const tree = config.product!.tree;
  const docs = join(tree, 'docs');
  if (!existsSync(join(docs, 'conf.py')))
    throw new BuildError(`${join(docs, 'conf.py')}: missing: the product source has no Sphinx documentation`);
  const conf = await readSphinxConf(sphinxBuild, docs, ctx.signal);
  const overrides = [extensionOverrides(conf), ...(preamble ? [preambleOverrides(conf, latexPackageFinder())] : [])];
  for (const line of overrides.flatMap((o) => o.leftOut)) ctx.log(line);
  const args = ['-b', builder, '-E', '-d', join(work, 'doctrees'), ...overrides.flatMap((o) => o.args), docs, dest];
  await runSphinx(sphinxBuild, args, runOptions(config, ctx, docs, tree));
  return conf;
}

function runOptions(config: BuildContext['config'], ctx: ActionContext, cwd: string, shownFrom: string): RunOptions {
  // Sphinx dates its pages, and pdfTeX its PDF (FORCE_SOURCE_DATE: \today too), by SOURCE_DATE_EPOCH.
  const epoch = config.sourceDateEpoch;
  const env =
    epoch === undefined ? process.env : { ...process.env, SOURCE_DATE_EPOCH: String(epoch), FORCE_SOURCE_DATE: '1' };
  return { cwd, env, signal: ctx.signal, log: (line) => ctx.log(line), shownFrom };
}

/** The LaTeX tree in `work`/latex (replaced whole), latexmk on it, its PDF copied to `pdf`. */
async function buildPdf(context: BuildContext, ctx: ActionContext, work: string, pdf: string) {
  const { config } = context;
  const latexmk = requireExecutable(config.bin.latexmk, 'LATEXMK_BIN', 'latexmk');
  const latexDir = join(work, 'latex');
  await replaceDirectory(latexDir, async (staging) => {
    const conf = await sphinx(context, ctx, 'latex', staging, work, true);
    if (!conf.latexFile)
      throw new BuildError(`${join(config.product!.tree, 'docs/conf.py')}: no latex_documents: no PDF to build`);
    await runLatexmk(latexmk, conf.latexFile, runOptions(config, ctx, staging, 'docs/'));
    const built = conf.latexFile.replace(/\.tex$/, '.pdf');
    await copyFileAtomic(join(staging, built), pdf);
    ctx.log(`${pdf}: ${built} of ${latexDir}`);
  });
}
