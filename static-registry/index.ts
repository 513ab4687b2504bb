// The static registry generator as the toolkit, the images task and the agent call it.
import { resolve } from 'node:path';
import { findImages } from './discover.ts';
import { registryConfig, type RegistryConfigOptions } from './nginx-config.ts';

export { findImages, type ImageTag } from './discover.ts';
export { CONSTANTS, normalizePrefix, registryConfig, type RegistryConfigOptions } from './nginx-config.ts';

/** The configuration serving the layouts under `root`; the server root defaults to `root`. */
export function registryConfigFor(root: string, options: Partial<RegistryConfigOptions> = {}): string {
  const absolute = resolve(root);
  const images = options.constants === 'only' ? [] : findImages(absolute);
  return registryConfig(images, { ...options, serverRoot: options.serverRoot ?? absolute });
}
