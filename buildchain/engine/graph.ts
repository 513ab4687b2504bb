// The task graph: names, groups, wildcard task_dep, implicit edges from a file_dep to the
// task that declares it as a target, cycle detection, and selection of what a run needs.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { UsageError } from '../errors.ts';
import { suggestion } from '../suggest.ts';
import {
  basenameOf,
  isDelayed,
  isSubtask,
  validateName,
  type DelayedTasks,
  type GraphView,
  type TaskDefinition,
  type TaskSpec,
} from './task.ts';

export interface TaskNode {
  readonly name: string;
  /** Definition order: the tie-break that keeps scheduling deterministic. */
  readonly index: number;
  /** Undefined for a group created implicitly from its subtasks. */
  readonly spec: TaskSpec;
  readonly delayed?: DelayedTasks;
  /** True once a delayed family's subtasks exist in the graph. */
  generated: boolean;
  /** file_dep and targets normalized relative to the root. */
  readonly fileDeps: readonly string[];
  readonly targets: readonly string[];
}

const DOT_SEGMENT = /(^|\/)\.{1,2}(\/|$)/;

/** `a/b.txt`: relative, no `.` or `..` segment, no doubled or trailing slash. */
function isPlainRelative(path: string): boolean {
  return path !== '' && path[0] !== '/' && !path.endsWith('/') && !path.includes('//') && !DOT_SEGMENT.test(path);
}

/** Paths inside the root are kept relative (state survives moving the checkout), others absolute. */
export function normalizePath(root: string, path: string): string {
  // Most paths are already plain relative ones: skip the costly resolve/relative round trip.
  if (sep === '/' && isPlainRelative(path)) return path;
  const absolute = resolve(root, path);
  const rel = relative(root, absolute);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return absolute;
  return sep === '/' ? rel : rel.split(sep).join('/');
}

/** The absolute path of a normalized path (normalizePath's): resolve() without its cost. */
export function absolutePath(root: string, path: string): string {
  if (isAbsolute(path)) return path;
  return root.endsWith('/') ? `${root}${path}` : `${root}/${path}`;
}

export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export const hasWildcard = (pattern: string): boolean => /[*?]/.test(pattern);

export class TaskGraph {
  private readonly nodes = new Map<string, TaskNode>();
  /** basename -> its subtasks, in definition order. */
  private readonly subtasks = new Map<string, string[]>();
  private readonly producers = new Map<string, string>();
  private readonly depCache = new Map<string, readonly string[]>();
  private nextIndex = 0;

  constructor(
    readonly root: string,
    definitions: readonly TaskDefinition[] = [],
  ) {
    this.addAll(definitions, 'task definitions');
  }

  get names(): string[] {
    return [...this.nodes.keys()];
  }

  get(name: string): TaskNode | undefined {
    return this.nodes.get(name);
  }

  /** The graph as a delayed family sees it when it creates its subtasks. */
  view(): GraphView {
    return { declaredTargets: () => [...this.producers.keys()] };
  }

  subtasksOf(basename: string): readonly string[] {
    return this.subtasks.get(basename) ?? [];
  }

  /** Adds a delayed family's subtasks once its `after` tasks have run. */
  addGenerated(basename: string, specs: readonly TaskSpec[]): string[] {
    const node = this.nodes.get(basename);
    if (!node?.delayed) throw new Error(`task '${basename}' is not a delayed task family`);
    for (const spec of specs) {
      if (basenameOf(spec.name) !== basename || !isSubtask(spec.name)) {
        throw new Error(
          `delayed family '${basename}' created task '${spec.name}': its name must start with '${basename}:'`,
        );
      }
    }
    node.generated = true;
    this.addAll(specs, `tasks created by '${basename}'`);
    this.depCache.clear();
    return specs.map((spec) => spec.name);
  }

  private addAll(definitions: readonly TaskDefinition[], where: string): void {
    for (const definition of definitions) {
      if (isDelayed(definition)) {
        const name = validateName(definition.basename, where);
        this.addNode(
          {
            name,
            index: this.nextIndex++,
            spec: { name, doc: definition.doc ?? '', task_dep: definition.after },
            delayed: definition,
            generated: false,
            fileDeps: [],
            targets: [],
          },
          where,
        );
        continue;
      }
      const name = validateName(definition.name, where);
      this.addNode(
        {
          name,
          index: this.nextIndex++,
          spec: definition,
          generated: false,
          fileDeps: (definition.file_dep ?? []).map((p) => normalizePath(this.root, p)),
          targets: (definition.targets ?? []).map((p) => normalizePath(this.root, p)),
        },
        where,
      );
    }
  }

  private addNode(node: TaskNode, where: string): void {
    const existing = this.nodes.get(node.name);
    if (existing) {
      // A basename created implicitly by its subtasks may be given a doc/actions later.
      if (this.isImplicitGroup(existing) && !isSubtask(node.name)) {
        this.nodes.set(node.name, { ...node, index: existing.index });
        return;
      }
      throw new Error(`${where}: task '${node.name}' is defined twice`);
    }
    for (const target of node.targets) {
      const producer = this.producers.get(target);
      if (producer)
        throw new Error(`${where}: target '${target}' is declared by both '${producer}' and '${node.name}'`);
      this.producers.set(target, node.name);
    }
    this.nodes.set(node.name, node);
    if (isSubtask(node.name)) {
      const base = basenameOf(node.name);
      const list = this.subtasks.get(base) ?? [];
      list.push(node.name);
      this.subtasks.set(base, list);
      if (!this.nodes.has(base)) {
        this.nodes.set(base, {
          name: base,
          index: this.nextIndex++,
          spec: { name: base },
          generated: false,
          fileDeps: [],
          targets: [],
        });
      }
    }
  }

  private isImplicitGroup(node: TaskNode): boolean {
    const { spec } = node;
    return (
      !node.delayed &&
      spec.doc === undefined &&
      !spec.actions &&
      !spec.task_dep &&
      !spec.file_dep &&
      this.subtasks.has(node.name)
    );
  }

  /** Names matching a task_dep or command-line pattern (wildcards allowed). */
  expand(pattern: string): string[] {
    const matches = hasWildcard(pattern)
      ? this.names.filter((name) => globToRegExp(pattern).test(name))
      : this.nodes.has(pattern)
        ? [pattern]
        : [];
    // `family:*` or `family:sub` on a delayed family whose subtasks cannot exist yet (they are made
    // from what its `after` tasks produce) means the family itself: it runs once they have.
    const base = basenameOf(pattern);
    const node = this.nodes.get(base);
    if (matches.length === 0 || hasWildcard(pattern))
      if (node?.delayed && !node.generated && pattern.startsWith(`${base}:`)) matches.push(base);
    return matches;
  }

  /** Like expand, but a pattern that matches nothing is a usage error suggesting the closest names. */
  match(pattern: string): string[] {
    const found = this.expand(pattern);
    if (found.length === 0) throw new UsageError(`no task matches '${pattern}'${suggestion(pattern, this.names)}`);
    return found;
  }

  /** Direct dependencies: task_dep, subtasks of a group, producers of file_dep. */
  depsOf(name: string): readonly string[] {
    const cached = this.depCache.get(name);
    if (cached) return cached;
    const node = this.nodes.get(name);
    if (!node) throw new Error(`unknown task '${name}'`);
    // An array, made unique at the end only when it can hold a name twice: most tasks have one
    // dependency or none, and a Set per task is most of the cost of a 20,000-task selection.
    const deps: string[] = [];
    for (const pattern of node.spec.task_dep ?? []) {
      const found = this.expand(pattern);
      if (found.length === 0 && !hasWildcard(pattern)) {
        throw new UsageError(`task '${name}': task_dep '${pattern}' is not a task${suggestion(pattern, this.names)}`);
      }
      for (const dep of found) if (dep !== name) deps.push(dep);
    }
    for (const sub of this.subtasks.get(name) ?? []) deps.push(sub);
    for (const file of node.fileDeps) {
      const producer = this.producers.get(file);
      if (producer && producer !== name) deps.push(producer);
    }
    const result = deps.length > 1 ? [...new Set(deps)] : deps;
    this.depCache.set(name, result);
    return result;
  }

  /**
   * Tasks selected by the patterns plus everything they depend on, dependencies first.
   * Unknown names are a usage error that suggests the closest names.
   */
  selection(patterns: readonly string[]): string[] {
    return this.closure(patterns.flatMap((pattern) => this.match(pattern)));
  }

  /** Dependency closure in topological order; a cycle is an error naming it. */
  closure(roots: readonly string[]): string[] {
    const order: string[] = [];
    const state = new Map<string, 1 | 2>(); // 1 = on the stack, 2 = done
    const stack: string[] = [];
    const visit = (name: string): void => {
      const seen = state.get(name);
      if (seen === 2) return;
      if (seen === 1) {
        const cycle = [...stack.slice(stack.indexOf(name)), name].join(' -> ');
        throw new UsageError(`dependency cycle: ${cycle}`);
      }
      state.set(name, 1);
      stack.push(name);
      for (const dep of this.depsOf(name)) visit(dep);
      stack.pop();
      state.set(name, 2);
      order.push(name);
    };
    for (const root of roots) visit(root);
    return order;
  }
}
