// The ISO's paths, product.txt and repository keys against upstream 2.4.1's layout rules (upstream-layout-2.4.1.yaml).
import { join } from 'node:path';
import { readYamlFile } from '../buildchain/yaml-file.ts';
import { PROJECT_ROOT } from './helpers.ts';

type Rules = Record<'required' | 'upstream' | 'ours', string[]> & {
  product_txt: Record<'upstream' | 'ours', string[]>;
  repository_keys: Record<string, string[]>;
};

const rules = () => readYamlFile(join(PROJECT_ROOT, 'test/upstream-layout-2.4.1.yaml'), 'the layout rules') as Rules;

const matches = (rule: string, path: string) =>
  rule.startsWith('re:') ? new RegExp(rule.slice(3)).test(path) : rule === path;

/** Paths no rule places, and required rules no path matches. */
export function layoutMismatches(paths: readonly string[]): { unplaced: string[]; missing: string[] } {
  const { required, upstream, ours } = rules();
  const placed = [...upstream, ...ours];
  return {
    unplaced: paths.filter((path) => !placed.some((rule) => matches(rule, path))),
    missing: required.filter((rule) => !paths.some((path) => matches(rule, path))),
  };
}

/** product.txt's keys against upstream's: missing ones, unknown ones, and upstream's out of their order. */
export function productTxtMismatches(text: string): { missing: string[]; unknown: string[]; outOfOrder: string[] } {
  const { upstream, ours } = rules().product_txt;
  const keys = text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(0, line.indexOf('=')));
  const theirs = keys.filter((key) => upstream.includes(key));
  return {
    missing: upstream.filter((key) => !keys.includes(key)),
    unknown: keys.filter((key) => !upstream.includes(key) && !ours.includes(key)),
    outOfOrder: theirs.filter((key, index) => upstream.filter((name) => theirs.includes(name))[index] !== key),
  };
}

/** The key files upstream's ISO holds in each shipped repository, by repository name. */
export function upstreamRepositoryKeys(): Record<string, string[]> {
  return rules().repository_keys;
}
