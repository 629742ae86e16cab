/**
 * One installed dependency tree per published kinvey-flex-sdk version, installed from the npm
 * registry once and shared by every test file that needs it (the receiver oracle, the
 * per-version differential test):
 *
 *   const tree = await sdkTree('2.0.2');        // <cache>/2.0.2 with node_modules/kinvey-flex-sdk@2.0.2
 *   const project = await sdkProject('2.0.2', 'echo', FIXTURE_SOURCE);   // <tree>/projects/echo
 *
 * The cache is `node_modules/.cache/flexd-sdk-trees/<version>` (gone with the next `npm ci`).
 * A tree counts only once its install completed (a marker file); test files running in parallel
 * take a lock per version, so one installs and the others wait for it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.ts';

/** Every kinvey-flex-sdk version the npm registry serves (`npm view kinvey-flex-sdk versions`). */
export const SDK_VERSIONS = ['1.2.0', '2.0.2', '2.1.0', '3.1.2', '3.2.0', '3.3.0'] as const;
export type SdkVersion = (typeof SDK_VERSIONS)[number];

/** The kinvey-code-task-runner each of them pins (its package.json). */
export const TASK_RUNNER_OF: Readonly<Record<SdkVersion, string>> = {
  '1.2.0': '1.2.1', '2.0.2': '2.1.0', '2.1.0': '2.2.3', '3.1.2': '2.3.1', '3.2.0': '2.3.1', '3.3.0': '2.4.0',
};

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/flexd-sdk-trees/', import.meta.url));
const DONE_MARKER = '.installed';
/** A registry install on a loaded machine; a lock older than this was left by a killed run. */
const INSTALL_TIMEOUT_MS = 240_000;

const pending = new Map<string, Promise<string>>();

/** The folder holding `node_modules/kinvey-flex-sdk@version` and its dependencies as npm installs them. */
export function sdkTree(version: SdkVersion): Promise<string> {
  let tree = pending.get(version);
  if (!tree) {
    tree = ensureTree(version);
    pending.set(version, tree);
  }
  return tree;
}

/**
 * A service project inside the version's tree (so `require('kinvey-flex-sdk')` finds that
 * version, under `node .` and in what flexd's deployDirectory packs): `package.json` pinning the
 * version, and `files` (name → content) written as given.
 */
export async function sdkProject(version: SdkVersion, name: string, files: Record<string, string>): Promise<string> {
  const dir = join(await sdkTree(version), 'projects', name);
  mkdirSync(dir, { recursive: true });
  const manifest = { name: `sdk-${version.replace(/\./g, '-')}-${name}`, version: '1.0.0', private: true, main: 'index.js', dependencies: { 'kinvey-flex-sdk': version } };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return dir;
}

async function ensureTree(version: SdkVersion): Promise<string> {
  const dir = join(CACHE, version);
  const lock = `${dir}.lock`;
  mkdirSync(CACHE, { recursive: true });
  for (;;) {
    if (existsSync(join(dir, DONE_MARKER))) return dir;
    if (takeLock(lock)) break;
    await waitFor(`the install of kinvey-flex-sdk@${version} by another test file`,
      () => existsSync(join(dir, DONE_MARKER)) || !existsSync(lock) || staleLock(lock), { timeoutMs: INSTALL_TIMEOUT_MS + 10_000, intervalMs: 250 });
    if (staleLock(lock)) rmSync(lock, { recursive: true, force: true });
  }
  try {
    if (existsSync(join(dir, DONE_MARKER))) return dir;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `sdk-tree-${version}`, version: '1.0.0', private: true, dependencies: { 'kinvey-flex-sdk': version } }));
    await npmInstall(dir);
    const installed = JSON.parse(readFileSync(join(dir, 'node_modules/kinvey-flex-sdk/package.json'), 'utf8')) as { version: string };
    if (installed.version !== version) throw new Error(`npm installed kinvey-flex-sdk@${installed.version}, not ${version}`);
    writeFileSync(join(dir, DONE_MARKER), `${new Date().toISOString()}\n`);
    return dir;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function takeLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function staleLock(lock: string): boolean {
  try {
    return Date.now() - statSync(lock).mtimeMs > INSTALL_TIMEOUT_MS;
  } catch {
    return false;
  }
}

function npmInstall(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const child = spawn(npm, ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`npm install in ${dir} failed (${signal ?? `exit ${code}`}): ${stderr.slice(-2000)}`));
    });
  });
}
