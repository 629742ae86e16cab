/**
 * Node releases from the npm registry are about 30 MB each: every test that runs a major other
 * than the host's installs it into one cache shared by test files and runs (flexd's
 * `runtimesDir`), so each major is downloaded once per checkout.
 *
 *   const rt = await createRuntime({ dataDir, port: 0, runtimesDir: RUNTIMES_CACHE_DIR });
 */
import { fileURLToPath } from 'node:url';

export const RUNTIMES_CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/flexd-runtimes', import.meta.url));

/** A first install downloads and unpacks ~30 MB per major; allow for a slow registry and a loaded box. */
export const RUNTIME_INSTALL_TIMEOUT_MS = 10 * 60_000;
