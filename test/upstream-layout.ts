// The ISO's paths against upstream 2.4.1's layout rules (upstream-layout-2.4.1.yaml).
import { join } from 'node:path';
import { readYamlFile } from '../buildchain/yaml-file.ts';
import { PROJECT_ROOT } from './helpers.ts';

type Rules = Record<'required' | 'upstream' | 'ours', string[]>;

const matches = (rule: string, path: string) =>
  rule.startsWith('re:') ? new RegExp(rule.slice(3)).test(path) : rule === path;

/** Paths no rule places, and required rules no path matches. */
export function layoutMismatches(paths: readonly string[]): { unplaced: string[]; missing: string[] } {
  const rules = readYamlFile(join(PROJECT_ROOT, 'test/upstream-layout-2.4.1.yaml'), 'the layout rules') as Rules;
  const placed = [...rules.upstream, ...rules.ours];
  return {
    unplaced: paths.filter((path) => !placed.some((rule) => matches(rule, path))),
    missing: rules.required.filter((rule) => !paths.some((path) => matches(rule, path))),
  };
}
