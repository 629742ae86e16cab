/**
 * A real headless browser for the status page's tests: Debian's chromium driven by
 * playwright-core (Playwright's own browser downloads are not reachable from CI). When
 * /usr/bin/chromium is missing the setup installs it (`apt-get install -y chromium`; CI runs as
 * root); only when that fails is the test skipped, with the reason.
 *
 *   const browser = await launchBrowser(cleanup);
 *   if (typeof browser === 'string') return t.skip(browser);
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import type { CleanupContext } from './cleanup.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** apt-get's download and unpack of chromium and its libraries, on a slow mirror. */
const INSTALL_TIMEOUT_MS = 10 * 60_000;

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** Installs chromium when missing; the reason it is not there, or undefined when it is. */
export function ensureChromium(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', 'chromium'], { env, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS });
  let result = install();
  if (result.status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore', timeout: INSTALL_TIMEOUT_MS });
    result = install();
  }
  if (existsSync(CHROMIUM)) return undefined;
  const why = result.error?.message ?? (result.stderr || result.stdout || '').trim().split('\n').slice(-3).join(' / ');
  return `chromium is not installed and "apt-get install -y chromium" failed (${why || `exit ${result.status}`}); skipping the browser test`;
}

/** A headless chromium closed by `cleanup`, or the reason there is none. */
export async function launchBrowser(cleanup: CleanupContext): Promise<Browser | string> {
  const missing = ensureChromium();
  if (missing) return missing;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  cleanup.after(() => browser.close());
  return browser;
}
