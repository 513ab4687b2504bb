// A declarations file read with the positions of its nodes, so that a problem the schema finds
// is said with the line it is on: `images/images.yaml:14: remote[3] (nginx): unknown key "digets"`.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { BuildError } from '../errors.ts';
import { readTextFile } from '../yaml-file.ts';
import type { ValidateFunction } from 'ajv';
import { schemaProblems } from './validate.ts';

/**
 * The file's data, checked by `validate` (a schema's generated validator); the first problem in
 * file order is a BuildError naming the file and line. `missingHint` names the setting that chose
 * the file (IMAGES_FILE).
 */
export function readDeclarations(file: string, validate: ValidateFunction, missingHint = ''): unknown {
  return parseDeclarations(readTextFile(file, missingHint), file, validate);
}

/** As readDeclarations, for a text read elsewhere (an archive's member): `file` names it in errors. */
export function parseDeclarations(text: string, file: string, validate: ValidateFunction): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineAt = (offset: number) => lines.linePos(offset).line;
  const [syntax] = doc.errors;
  if (syntax) throw new BuildError(`${file}:${lineAt(syntax.pos[0])}: ${syntax.message}`);
  const value: unknown = doc.toJS();
  const problems = schemaProblems(validate, value, (path) => {
    const node = nodeAt(doc, path);
    return isScalar(node) && typeof node.source === 'string' ? node.source : undefined;
  });
  if (problems.length === 0) return value;
  const placed = problems.map((problem) => ({ problem, line: lineAt(offsetOf(doc, problem.path)) }));
  const first = placed.reduce((a, b) => (b.line < a.line ? b : a));
  throw new BuildError(`${file}:${first.line}: ${first.problem.message}`);
}

/** The node at `path`, or undefined where the path leaves the document. */
function nodeAt(doc: Document, path: (string | number)[]): Node | undefined {
  let node: unknown = doc.contents;
  for (const segment of path) {
    if (isSeq(node) && typeof segment === 'number') node = node.items[segment];
    else if (isMap(node)) node = node.items.find((pair) => isScalar(pair.key) && pair.key.value === segment)?.value;
    else return undefined;
  }
  return node as Node | undefined;
}

/**
 * Where the problem at `path` is written: the key naming it in a mapping (an unknown key, or a
 * value on its key's line), the item in a list; for a missing value, the enclosing one.
 */
function offsetOf(doc: Document, path: (string | number)[]): number {
  for (let depth = path.length; depth > 0; depth--) {
    const parent = nodeAt(doc, path.slice(0, depth - 1));
    const segment = path[depth - 1];
    const node = isMap(parent)
      ? (parent.items.find((pair) => isScalar(pair.key) && pair.key.value === segment)?.key as Node | undefined)
      : isSeq(parent) && typeof segment === 'number'
        ? (parent.items[segment] as Node | undefined)
        : undefined;
    if (node?.range) return node.range[0];
  }
  return (doc.contents as Node | null)?.range?.[0] ?? 0;
}
