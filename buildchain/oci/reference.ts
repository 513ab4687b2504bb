// Image references as release engineers write them (`quay.io/coreos/prometheus-operator:v0.32.0`,
// `docker.io/library/nginx@sha256:...`), split into the parts the registry API needs.
import { BuildError } from '../errors.ts';
import { parseDigest } from '../store/sha256.ts';

export interface ImageReference {
  /** Registry as written (`docker.io`, `k8s.gcr.io`, `127.0.0.1:5000`): the key of REGISTRY_MIRRORS. */
  readonly registry: string;
  /** Repository path inside the registry (`library/nginx`, `coreos/prometheus-operator`). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Parses `[registry/]path[:tag][@digest]` with the rules of the distribution reference grammar.
 * Without a registry, Docker Hub is meant (and `library/` for one-component names), as docker does.
 */
export function parseReference(text: string, where = 'image reference'): ImageReference {
  const fail = (why: string): never => {
    throw new BuildError(`${where}: "${text}" is not a valid image reference (${why})`);
  };
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1), `${where} "${text}"`);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`bad tag "${tag}"`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    registry = parts.shift()!;
  }
  if (parts.length === 0 || parts.some((part) => !COMPONENT.test(part))) fail('bad repository name');
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  return { registry, repository: parts.join('/'), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
