// The repositories' nginx on the node: where the configuration of each Solution's images goes,
// how it is rendered from the Solution's registry-config.inc.j2, and how nginx is told.
import { readFileSync } from 'node:fs';
import { BuildError } from '../buildchain/errors.ts';
import type { Host } from './host.ts';

/** Included by the repositories' nginx server (upstream's repo.config.directory). */
export const REGISTRY_CONFIG_DIR = '/var/lib/metalk8s/repositories/conf.d';

/**
 * Renders a Solution's registry template. Solution ISOs carry `{{ repository }}` and
 * `{{ registry_root }}` placeholders only (static-registry writes them so), so this substitutes
 * those and refuses any other Jinja construct rather than serving a half-rendered file.
 */
export function renderRegistryTemplate(file: string, values: Record<string, string>): string {
  const template = readFileSync(file, 'utf8');
  const other = /\{%|\{#/.exec(template);
  if (other)
    throw new BuildError(
      `${file}: holds a Jinja statement or comment ("${other[0]}"); only {{ ${Object.keys(values).join(' }}, {{ ')} }} are rendered`,
    );
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined)
      throw new BuildError(`${file}: unknown variable {{ ${name} }} (known: ${Object.keys(values).join(', ')})`);
    return value;
  });
}

/**
 * Makes nginx read its configuration again: NGINX_RELOAD when set (a command), else
 * `nginx -s reload` inside the repositories container, found with crictl.
 */
export async function reloadRegistry(host: Host): Promise<void> {
  if (host.command('NGINX_RELOAD')) return host.run('reload nginx', 'NGINX_RELOAD', []);
  const container = host.options.dryRun
    ? '<repositories>'
    : (await host.query('CRICTL', ['ps', '-q', '--label', 'io.kubernetes.container.name=repositories']))
        .trim()
        .split('\n')[0];
  if (!container)
    throw new BuildError(
      'no repositories container is running on this node (crictl ps found none); set NGINX_RELOAD to the command that reloads its nginx',
    );
  await host.run('reload nginx', 'CRICTL', ['exec', container, 'nginx', '-s', 'reload']);
}
