import { join, resolve } from 'node:path';
import type { Settings } from '../config.ts';
import { RuntimeCatalog } from './catalog.ts';
import { parseLegacyTable } from './names.ts';
import { registryUrl } from './registry.ts';

export { HOST_MAJOR, RuntimeCatalog, type NodeRuntime } from './catalog.ts';

/**
 * The runtime catalog of one flexd, from its settings (docs/runtimes.md). Throws at start for a
 * default runtime or a legacy table flexd cannot use, before anything is served.
 */
export function openCatalog(settings: Pick<Settings, 'defaultRuntime' | 'legacyRuntimes' | 'runtimesDir' | 'runtimeRegistry'>, dataDir: string,
  configured: Readonly<Record<string, string>> = {}): RuntimeCatalog {
  return new RuntimeCatalog({
    root: settings.runtimesDir ? resolve(settings.runtimesDir) : join(dataDir, 'runtimes'),
    registry: registryUrl(settings.runtimeRegistry),
    defaultRuntime: settings.defaultRuntime,
    legacy: parseLegacyTable(settings.legacyRuntimes),
    configured,
  });
}
