// What a Sphinx project's conf.py asks for, read by the Python that runs sphinx-build, and the
// `-D` overrides that let it build with what this machine has: an extension that does not import
// and a LaTeX package that kpsewhich cannot find are left out, each said in the build log, instead
// of failing the whole build on a part the documents may not use.
import { closeSync, openSync, readSync } from 'node:fs';
import { BuildError } from '../errors.ts';
import { findExecutable, runTool } from '../tools.ts';
import * as builtins from '../builtins.ts';

export interface SphinxConf {
  extensions: string[];
  /** Extensions that do not import here, with Python's reason. */
  missing: { name: string; why: string }[];
  /** latex_elements['preamble']: the LaTeX the documents add before \begin{document}. */
  preamble: string;
  /** The first latex_documents entry's file name (`MetalK8s.tex`), or undefined when there is none. */
  latexFile: string | undefined;
}

/** Sphinx's own reader of conf.py (its namespace, its working directory), then an import of each extension. */
const PROBE = `
import importlib, json, sys
from sphinx.config import Config
from sphinx.util.tags import Tags
config = Config.read(sys.argv[1], {}, Tags())
missing = []
for name in config.extensions:
    try:
        importlib.import_module(name)
    except Exception as error:
        missing.append({"name": name, "why": "%s: %s" % (type(error).__name__, error)})
raw = config._raw_config  # the builders' values (latex_*) are known only to a running application
documents = raw.get("latex_documents") or []
print(json.dumps({
    "extensions": list(config.extensions),
    "missing": missing,
    "preamble": (raw.get("latex_elements") or {}).get("preamble", ""),
    "latexFile": documents[0][1] if documents else None,
}))
`;

/**
 * The Python that runs `sphinxBuild` (its `#!` line), so the probe sees the modules Sphinx sees:
 * Debian's sphinx-build runs /usr/bin/python3 whatever python3 comes first on PATH.
 */
export function sphinxPython(sphinxBuild: string): string {
  const head = Buffer.alloc(256);
  const fd = openSync(sphinxBuild, 'r');
  const read = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const shebang = /^#!\s*(\S+)(?:[ \t]+(\S+))?/.exec(head.subarray(0, read).toString('utf8'));
  if (!shebang)
    throw new BuildError(`${sphinxBuild}: not a Python script (no #! line): cannot tell which Python runs Sphinx`);
  const [, program, argument] = shebang;
  const python = program!.endsWith('/env') && argument ? findExecutable(argument) : program;
  if (!python) throw new BuildError(`${sphinxBuild}: its interpreter '${argument}' is not on PATH`);
  return python;
}

export async function readSphinxConf(sphinxBuild: string, confDir: string, signal: AbortSignal): Promise<SphinxConf> {
  const out = await runTool(sphinxPython(sphinxBuild), ['-c', PROBE, confDir], {
    signal,
    what: `reading ${confDir}/conf.py`,
  });
  return JSON.parse(out) as SphinxConf;
}

/** Where each extension often left out comes from on Debian. */
const EXTENSION_PACKAGES: Readonly<Record<string, string>> = {
  'sphinxcontrib.spelling': 'python3-sphinxcontrib.spelling',
  'sphinxcontrib.plantuml': 'python3-sphinxcontrib.plantuml',
};

export interface Overrides {
  /** sphinx-build arguments (`-D name=value`). */
  args: string[];
  /** One line for the build log per part left out. */
  leftOut: string[];
}

/** `-D extensions=...` without the extensions that do not import. */
export function extensionOverrides(conf: SphinxConf): Overrides {
  if (conf.missing.length === 0) return { args: [], leftOut: [] };
  const gone = new Set(conf.missing.map((m) => m.name));
  return {
    args: ['-D', `extensions=${conf.extensions.filter((name) => !gone.has(name)).join(',')}`],
    leftOut: conf.missing.map(({ name, why }) => {
      const pkg = EXTENSION_PACKAGES[name];
      return `left out: Sphinx extension ${name} (${why})${pkg ? `; apt-get install -y ${pkg}` : ', not packaged by Debian'}`;
    }),
  };
}

/**
 * `-D latex_elements.preamble=...` without the `\usepackage` lines of packages that `hasPackage`
 * does not find (kpsewhich): the PDF is set in LaTeX's default fonts instead of failing.
 */
export function preambleOverrides(conf: SphinxConf, hasPackage: (name: string) => boolean): Overrides {
  const leftOut: string[] = [];
  const kept = conf.preamble.split('\n').filter((line) => {
    const used = /^\s*\\usepackage(?:\[[^\]]*\])?\{([^}]+)\}\s*$/.exec(line);
    const absent = used?.[1]?.split(',').filter((name) => !hasPackage(name.trim())) ?? [];
    if (absent.length > 0)
      leftOut.push(`left out: LaTeX package ${absent.join(', ')} (not found by kpsewhich): ${line.trim()}`);
    return absent.length === 0;
  });
  return leftOut.length === 0
    ? { args: [], leftOut }
    : { args: ['-D', `latex_elements.preamble=${kept.join('\n')}`], leftOut };
}

/** Whether kpsewhich finds `<name>.sty`; without kpsewhich, every package counts as found. */
export function latexPackageFinder(): (name: string) => boolean {
  const kpsewhich = findExecutable('kpsewhich');
  if (!kpsewhich) return () => true;
  return (name) => {
    try {
      builtins.childProcess().execFileSync(kpsewhich, [`${name}.sty`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
}
