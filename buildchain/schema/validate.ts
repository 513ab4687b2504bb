// Declarations checked against the JSON Schemas shipped beside their loaders, by the validators
// generated from them (generate.ts): ajv's errors become problems naming the entry as a release
// engineer reads it (`remote[3] (nginx).digest`), with the closest known key for a misspelt one.
import type { AnySchemaObject, ErrorObject, ValidateFunction } from 'ajv';
import { closestNames } from '../suggest.ts';

/** One problem of a value: where it is (a key, for an unknown key) and what is wrong, said with the entry's name. */
export interface SchemaProblem {
  path: (string | number)[];
  message: string;
  /** For a key the schema does not know: it, and the known keys closest to it. */
  unknown?: { key: string; closest: string[] };
}

/** Every problem of `value`, the most specific per place, in no particular order. */
export function schemaProblems(validate: ValidateFunction, value: unknown, source?: ScalarSource): SchemaProblem[] {
  if (validate(value)) return [];
  const errors = validate.errors ?? [];
  const placed = errors.map((error) => ({ error, path: placeOf(error) }));
  // An error about a place holding a more specific one is its consequence (a misspelt key is also a
  // missing one; a list item matching no form has the errors of each form): the specific one is said.
  const specific = placed.filter(
    ({ path }) => !placed.some((other) => other.path.length > path.length && startsWith(other.path, path)),
  );
  const byPlace = new Map<string, (typeof specific)[number][]>();
  for (const entry of specific) {
    const key = JSON.stringify(entry.path);
    byPlace.set(key, [...(byPlace.get(key) ?? []), entry]);
  }
  return [...byPlace.values()].map((group) => {
    const { error, path } = pick(group);
    return describe(error, path, value, source);
  });
}

/**
 * The error said for one place. Where forms are alternatives (a name, or a mapping) and the value
 * has the type of one, what that form says of its content (a missing key) if it says it clearly.
 * Otherwise the rule's hint (the alternatives' own, said last), else ajv's first error.
 */
function pick<T extends { error: ErrorObject }>(group: T[]): T {
  const hinted = (entries: T[]) => entries.filter(({ error }) => hintOf(error) !== undefined).at(-1);
  if (group.some(({ error }) => error.keyword === 'type')) {
    const content = group.filter(
      ({ error }) =>
        SELF_SAID.has(error.keyword) || (error.keyword !== 'type' && !COMBINATORS.has(error.keyword) && hintOf(error)),
    );
    if (content.length > 0) return hinted(content) ?? content[0]!;
  }
  return hinted(group) ?? group.find(({ error }) => !COMBINATORS.has(error.keyword)) ?? group[0]!;
}

/** The text a scalar was written as (`1.10`, which YAML reads as the number 1.1), when known. */
export type ScalarSource = (path: (string | number)[]) => string | undefined;

const COMBINATORS = new Set(['anyOf', 'oneOf', 'allOf', 'if', 'not']);
/** Errors whose message says all without a hint: the key that is unknown, missing or needed. */
const SELF_SAID = new Set(['additionalProperties', 'required', 'dependencies']);

function hintOf(error: ErrorObject): string | undefined {
  const hint = (error.parentSchema as { errorMessage?: unknown } | undefined)?.errorMessage;
  return typeof hint === 'string' ? hint : undefined;
}

/** The path of the value an error is about; for an unknown key, the key itself. */
function placeOf(error: ErrorObject): (string | number)[] {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => {
      const text = segment.replace(/~1/g, '/').replace(/~0/g, '~');
      return /^\d+$/.test(text) ? Number(text) : text;
    });
  return error.keyword === 'additionalProperties' ? [...path, String(error.params.additionalProperty)] : path;
}

function startsWith(path: (string | number)[], prefix: (string | number)[]): boolean {
  return prefix.every((segment, index) => path[index] === segment);
}

/** `remote[3] (nginx).digest`: list items by index, with their `name` when they have one. */
function entryPath(path: (string | number)[], root: unknown): string {
  let text = '';
  let value = root;
  for (const segment of path) {
    value = (value as Record<string | number, unknown> | undefined)?.[segment];
    if (typeof segment === 'number') {
      const name = (value as { name?: unknown } | undefined)?.name;
      text += `[${segment}]${typeof name === 'string' ? ` (${name})` : ''}`;
    } else text += text ? `.${segment}` : segment;
  }
  return text;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'empty',
};

function describe(
  error: ErrorObject,
  path: (string | number)[],
  root: unknown,
  source: ScalarSource | undefined,
): SchemaProblem {
  const entry = entryPath(path, root);
  const where = entry || 'the file';
  const data: unknown = error.data;
  const schema = (error.parentSchema ?? {}) as AnySchemaObject;
  if (error.keyword === 'additionalProperties') {
    const key = String(error.params.additionalProperty);
    const known = Object.keys(schema.properties ?? {});
    const closest = closestNames(key, known);
    const parent = entryPath(path.slice(0, -1), root);
    const advice = closest.length
      ? ` (did you mean ${closest.map((name) => `"${name}"`).join(', ')}?)`
      : known.length
        ? ` (known keys: ${known.join(', ')})`
        : '';
    return { path, message: `${parent ? `${parent}: ` : ''}unknown key "${key}"${advice}`, unknown: { key, closest } };
  }
  if (error.keyword === 'required' || error.keyword === 'dependencies') {
    const missing = String(error.params.missingProperty);
    const property = (schema.properties?.[missing] ?? {}) as AnySchemaObject;
    const needed = error.keyword === 'dependencies' ? ` (needed with "${String(error.params.property)}")` : '';
    // The missing field's own description says what it is; else the rule's hint.
    const hint =
      (typeof property.description === 'string' ? asClause(property.description) : undefined) ?? hintOf(error);
    return { path, message: `${entry ? `${entry}.` : ''}${missing} is missing${needed}${hint ? `: ${hint}` : ''}` };
  }
  // YAML reads 1.10 as the number 1.1: said with the fix, and with the text as written.
  const wanted = [schema.type].flat();
  if (error.keyword === 'type' && typeof data === 'number' && wanted.includes('string')) {
    const written = source?.(path) ?? String(data);
    return {
      path,
      message: `${where} is the number ${written}; quote it ("${written}") so that YAML keeps it as written`,
    };
  }
  const shown = data === null || typeof data !== 'object' ? `, not ${JSON.stringify(data) ?? 'nothing'}` : '';
  const hint = hintOf(error);
  if (hint) return { path, message: `${where} ${hint}${shown}` };
  return { path, message: `${where} ${defaultMessage(error, schema)}${shown}` };
}

/** A description (a sentence for editors) as the end of a message: "The base URL." -> "the base URL". */
function asClause(description: string): string {
  const text = description.replace(/\.$/, '');
  return /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

/** ajv's wording, said in the words of the rest of the build's messages where they differ. */
function defaultMessage(error: ErrorObject, schema: AnySchemaObject): string {
  switch (error.keyword) {
    case 'type':
      return `must be ${[schema.type]
        .flat()
        .map((type: string) => TYPE_NAMES[type] ?? type)
        .join(' or ')}`;
    case 'minItems':
      return error.params.limit === 1 ? 'must be a non-empty list' : `must have at least ${error.params.limit} items`;
    case 'minLength':
      return error.params.limit === 1 ? 'must be a non-empty string' : (error.message ?? 'is too short');
    default:
      return error.message ?? `fails the ${error.keyword} rule`;
  }
}
