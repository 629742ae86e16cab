/**
 * The build namespace's tools (src/isolation/build-namespace.ts) for the tests that attack builds:
 * util-linux's `unshare` and `setpriv`. Debian installs util-linux on every system (Essential);
 * on a machine without them the setup installs it (`apt-get install -y util-linux`, as root, as
 * the browser tests install chromium), so the attacks run against the real walls.
 */
import { spawnSync } from 'node:child_process';

const INSTALL_TIMEOUT_MS = 10 * 60_000;

function present(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Installs util-linux when `unshare` or `setpriv` is missing; the reason it is still missing, or undefined. */
export function ensureBuildIsolationTools(): string | undefined {
  if (present('unshare') && present('setpriv')) return undefined;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', 'util-linux'], { env, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS });
  let result = install();
  if (result.status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore', timeout: INSTALL_TIMEOUT_MS });
    result = install();
  }
  if (present('unshare') && present('setpriv')) return undefined;
  return `unshare/setpriv are missing and "apt-get install -y util-linux" failed (${result.error?.message ?? `exit ${result.status}`})`;
}
