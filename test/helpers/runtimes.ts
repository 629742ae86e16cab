/**
 * Node releases from the npm registry are about 30 MB each: every test that runs a major other
 * than the host's installs it into one cache shared by test files and runs (flexd's
 * `runtimesDir`), so each major is downloaded once per checkout.
 *
 *   const rt = await createRuntime({ dataDir, port: 0, runtimesDir: RUNTIMES_CACHE_DIR });
 *
 * The cache is node_modules/.cache/flexd-runtimes when every folder above it can be entered by
 * other accounts (as root, replicas run as accounts of their own and must reach their Node);
 * otherwise a folder under the OS temp dir.
 */
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const IN_CHECKOUT = fileURLToPath(new URL('../../node_modules/.cache/flexd-runtimes', import.meta.url));

export const RUNTIMES_CACHE_DIR = enterableByOthers(dirname(IN_CHECKOUT)) ? IN_CHECKOUT : join(process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir(), 'flexd-test-runtimes');

/** A first install downloads and unpacks ~30 MB per major; allow for a slow registry and a loaded box. */
export const RUNTIME_INSTALL_TIMEOUT_MS = 10 * 60_000;

function enterableByOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    let mode: number | undefined;
    try {
      mode = statSync(d).mode;
    } catch { /* not made yet: flexd makes it 0755 */ }
    if (mode !== undefined && (mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}
