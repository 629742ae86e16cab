import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DEFAULTS } from '../config.ts';
import { FlexdError } from '../errors.ts';
import { LineSplitter } from '../logs/lines.ts';
import {
  INSTALL_FAILURE_TAIL_LINES, INSTALL_OUTPUT_LINE_BYTES, NPM_KILL_GRACE_MS, NPM_VIEW_TIMEOUT_MS,
} from './limits.ts';
import type { Account } from '../isolation/accounts.ts';
import { wrapCommand, type BuildIsolation } from '../isolation/build-namespace.ts';
import { sdkReplacement, SDK, type Published } from './install-policy.ts';

export interface InstallOptions {
  /** npm's cache, shared by every build so a repeat deploy installs from disk */
  cacheDir: string;
  /** one line per step, for the job's progress: what was substituted, retried, installed */
  onProgress: (line: string) => void;
  /** default 5 min (`DEFAULTS.installTimeoutMs`); npm is killed then */
  timeoutMs?: number;
  /** default `npm`, found on PATH */
  npmCommand?: string;
  /** aborting kills npm and rejects with the signal's reason */
  signal?: AbortSignal;
  /** the build box (box.ts): npm's whole environment, and the account it runs as */
  env?: NodeJS.ProcessEnv;
  /** as root: the account npm runs as (switched to inside the build's namespace when there is one) */
  account?: Account;
  /** the build's pid namespace (isolation/build-namespace.ts); without it npm runs as a plain child */
  isolation?: BuildIsolation;
  /**
   * false: fetch and lay out only (`--ignore-scripts`), no package code runs — phase one of a
   * build; the lifecycle scripts follow in `runInstallScripts`. Default true (as `npm install`).
   */
  scripts?: boolean;
  /** what the registry publishes of the SDK, asked already (`publishedSdk`); undefined: asked here */
  published?: Published | null;
}

/** What flexd changes of the SDK for an install: decided before the tree's key, as it changes the tree (dependency-cache.ts). */
export interface SdkSubstitution {
  /** the SDK version installed instead of the declared spec; null: as declared */
  replacement: string | null;
  /** why the lockfile is set aside (the progress line), or null when it is used as it is */
  lockfileSetAside: string | null;
}

/**
 * The substitution for a declared SDK spec (`requested`), given what the registry publishes
 * (null: it could not be asked, so nothing is substituted) and the lockfile with the SDK version
 * it pins.
 */
export function sdkSubstitution(requested: string | undefined, published: Published | null, lockfile: { name: string; pinned: string | null } | null): SdkSubstitution {
  if (requested === undefined || published === null) return { replacement: null, lockfileSetAside: null };
  const replacement = sdkReplacement(requested, published);
  const pinMissing = lockfile !== null && lockfile.pinned !== null && !published.versions.includes(lockfile.pinned);
  const lockfileSetAside = lockfile === null || (replacement === null && !pinMissing) ? null : pinMissing
    ? `${lockfile.name} pins ${SDK} ${lockfile.pinned}, which is not available; installing without the lockfile`
    : `${lockfile.name} was made for ${SDK} ${requested}; installing without the lockfile`;
  return { replacement, lockfileSetAside };
}

/** `npm view kinvey-flex-sdk versions dist-tags` as `installDependencies` asks it (once per process), run in `dir`; null when the registry cannot be asked (said through onProgress). */
export function publishedSdk(dir: string, options: InstallOptions): Promise<Published | null> {
  return new Npm(dir, options).sdkVersions();
}

const LOCKFILES = ['npm-shrinkwrap.json', 'package-lock.json'];

/**
 * Installs production dependencies into `dir/node_modules` with npm, honouring the lockfile when
 * it can. `dir` is the build's install folder, a copy of the project whose package.json flexd may
 * rewrite (install-policy.ts): the service never sees these changes. Old projects pin what the
 * registry no longer serves, so: a `kinvey-flex-sdk` the registry lacks (a vanished pin, an
 * unsatisfiable range, an unknown dist-tag) is replaced by the newest release of its major (or
 * the newest for a tag); a lockfile pinning one is set aside; an install that fails with the
 * lockfile is retried without it. Each of these is reported through `onProgress` and returned.
 * Lifecycle scripts run (native addons are built by them): `options.uid`/`env` keep them in the box.
 *
 * @example
 *   const { substitutions } = await installDependencies(root, { cacheDir, onProgress: (l) => job.progress(l) });
 *   // substitutions: ['kinvey-flex-sdk 3.2.1 is not available; using 3.3.0']
 *
 * @throws FlexdError `DependencyInstallFailed` (400) with the tail of npm's output
 */
export async function installDependencies(dir: string, options: InstallOptions): Promise<{ substitutions: string[] }> {
  options.signal?.throwIfAborted();
  const npm = new Npm(dir, options);
  const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  if (Object.keys(pkg.dependencies ?? {}).length === 0) {
    options.onProgress('No dependencies to install.');
    return { substitutions: [] };
  }

  const substitutions: string[] = [];
  const report = (line: string) => { substitutions.push(line); options.onProgress(line); };
  let lockfile = await findLockfile(dir);
  const requested = pkg.dependencies?.[SDK];
  const published = requested === undefined ? null : options.published !== undefined ? options.published : await npm.sdkVersions();
  const plan = sdkSubstitution(requested, published, lockfile === null ? null : { name: lockfile, pinned: await lockedVersion(path.join(dir, lockfile)) });
  if (plan.replacement !== null) {
    pkg.dependencies![SDK] = plan.replacement;
    await fs.writeFile(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    report(`${SDK} ${requested} is not available; using ${plan.replacement}`);
  }
  if (lockfile !== null && plan.lockfileSetAside !== null) {
    await setAside(dir, lockfile);
    report(plan.lockfileSetAside);
    lockfile = null;
  }

  options.onProgress(`Installing dependencies with npm${lockfile === null ? '' : ` from ${lockfile}`}…`);
  let run = await npm.install();
  if (!run.ok && !run.timedOut && lockfile !== null) {
    options.onProgress(`npm install with ${lockfile} failed:`);
    for (const line of run.tail) options.onProgress(line);
    await setAside(dir, lockfile);
    report(`Retrying without ${lockfile}, which pins packages that could not be installed`);
    run = await npm.install();
  }
  if (!run.ok) {
    const why = run.timedOut
      ? `npm install did not finish within ${Number((npm.timeoutMs / 1000).toFixed(3))} s and was stopped`
      : `npm install failed${run.exit}`;
    throw new FlexdError('DependencyInstallFailed', `${why}. Last lines of its output:\n${run.tail.join('\n')}`, { status: 400 });
  }
  options.onProgress(run.tail.filter((line) => !NOISE.test(line)).at(-1) ?? 'Dependencies installed.');
  return { substitutions };
}

/**
 * Phase two of a build: the lifecycle scripts npm skipped in phase one (`scripts: false`), run
 * with `options` naming the build's own account, environment and a private, empty npm cache.
 *
 * @throws FlexdError `DependencyInstallFailed` (400) with the tail of npm's output
 */
export async function runInstallScripts(dir: string, options: InstallOptions & { prepare: boolean }): Promise<void> {
  options.signal?.throwIfAborted();
  const npm = new Npm(dir, options);
  options.onProgress('Running install scripts…');
  const run = await npm.scripts(options.prepare);
  if (!run.ok) {
    const why = run.timedOut
      ? `the install scripts did not finish within ${Number((npm.timeoutMs / 1000).toFixed(3))} s and were stopped`
      : `an install script failed${run.exit}`;
    throw new FlexdError('DependencyInstallFailed', `${why}. Last lines of its output:\n${run.tail.join('\n')}`, { status: 400 });
  }
}

async function findLockfile(dir: string): Promise<string | null> {
  for (const name of LOCKFILES) {
    if (await fs.stat(path.join(dir, name)).then((s) => s.isFile(), () => false)) return name;
  }
  return null;
}

/** The kinvey-flex-sdk version a lockfile pins (lockfileVersion 2–3 `packages`, or 1 `dependencies`). */
export async function lockedVersion(file: string): Promise<string | null> {
  try {
    const lock = JSON.parse(await fs.readFile(file, 'utf8'));
    const version = lock?.packages?.[`node_modules/${SDK}`]?.version ?? lock?.dependencies?.[SDK]?.version;
    return typeof version === 'string' ? version : null;
  } catch {
    return null; // unreadable: npm will say why, and the retry without it follows
  }
}

/** Moves a lockfile out of npm's sight, keeping it beside the project for whoever debugs the build. */
async function setAside(dir: string, lockfile: string): Promise<void> {
  await fs.rename(path.join(dir, lockfile), path.join(dir, `${lockfile}.flexd-unused`));
}

/**
 * `npm view kinvey-flex-sdk versions`, asked once per process and npm command: the list changes
 * rarely, a build often.
 */
const sdkVersionsAsked = new Map<string, Promise<Published>>();
/** Commands whose failed listing is being kept for UNLISTED_RETRY_MS. */
const forgetting = new Set<string>();
/** How long a failed listing of the SDK's versions stands before a build asks the registry again. */
const UNLISTED_RETRY_MS = 5 * 60_000;

/** npm output that says nothing about this install's outcome: engine ranges of old packages, deprecations. */
const NOISE = /\b(EBADENGINE|deprecated)\b|^npm (warn|WARN) (config|old lockfile|using --force)|^npm (warn|WARN)\s*$|^npm (warn|WARN) EBADENGINE|^npm (warn|WARN)\s+(package|required|current):/;

interface NpmRun { ok: boolean; timedOut: boolean; exit: string; tail: string[]; output: string }

/** Runs npm as a child (no shell) in the project folder, its output captured, never on flexd's stdout. */
class Npm {
  readonly timeoutMs: number;
  private readonly command: string;

  constructor(private readonly dir: string, private readonly options: InstallOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.installTimeoutMs;
    this.command = options.npmCommand ?? 'npm';
  }

  install(): Promise<NpmRun> {
    return this.run([
      'install', '--omit=dev', '--no-audit', '--no-fund',
      // In a build, phase one runs no package code (`scripts: false`); the scripts follow in
      // their own box without the shared cache (runInstallScripts).
      ...(this.options.scripts === false ? ['--ignore-scripts'] : []),
      '--prefer-offline', '--cache', this.options.cacheDir,
      '--no-update-notifier', '--no-progress', '--loglevel', 'warn',
    ], this.timeoutMs, { signal: this.options.signal });
  }

  /**
   * Phase two: the lifecycle scripts of every installed package and of the project, as
   * `npm install` would have run them (`npm rebuild` runs each package's and the project's
   * preinstall/install/postinstall, node-gyp for a binding.gyp; `prepare` is the project's own),
   * offline, with `cacheDir` a private one.
   */
  async scripts(prepare: boolean): Promise<NpmRun> {
    const common = ['--offline', '--cache', this.options.cacheDir, '--no-update-notifier', '--no-progress', '--loglevel', 'warn'];
    const rebuilt = await this.run(['rebuild', ...common], this.timeoutMs, { signal: this.options.signal });
    if (!rebuilt.ok || !prepare) return rebuilt;
    return this.run(['run', 'prepare', '--if-present', ...common], this.timeoutMs, { signal: this.options.signal });
  }

  /** The published versions and dist-tags of kinvey-flex-sdk, or null (reported) when the registry cannot be asked. */
  async sdkVersions(): Promise<Published | null> {
    const command = this.command;
    // Not tied to this build's signal: other builds may be waiting on the same answer.
    const asked = sdkVersionsAsked.get(command) ?? this.run(['view', SDK, 'versions', 'dist-tags', '--json', '--cache', this.options.cacheDir,
      '--no-update-notifier', '--loglevel', 'error'], NPM_VIEW_TIMEOUT_MS, { captureStdout: true }).then((run) => {
      const parsed: unknown = run.ok ? JSON.parse(run.output) : null;
      // Asked for two fields npm answers an object; a registry (or npm) answering the versions alone, an array or one string.
      const fields = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed as Record<string, unknown> : { versions: parsed };
      const versions = typeof fields.versions === 'string' ? [fields.versions] : fields.versions;
      if (!Array.isArray(versions)) throw new Error(run.tail.at(-1) ?? `npm view ${SDK} failed`);
      const tags = typeof fields['dist-tags'] === 'object' && fields['dist-tags'] !== null ? fields['dist-tags'] as Record<string, string> : {};
      return { versions: versions.filter((v): v is string => typeof v === 'string'), distTags: tags };
    });
    sdkVersionsAsked.set(command, asked);
    try {
      return await asked;
    } catch (err) {
      // Builds within a while do not ask again (each would wait on npm's retries offline, a tree
      // reused included: the list is asked before the tree's key); a later one does.
      if (!forgetting.has(command)) {
        forgetting.add(command);
        setTimeout(() => { forgetting.delete(command); if (sdkVersionsAsked.get(command) === asked) sdkVersionsAsked.delete(command); }, UNLISTED_RETRY_MS).unref();
      }
      this.options.onProgress(`Could not list the published ${SDK} versions (${(err as Error).message}); installing as declared`);
      return null;
    }
  }

  private run(args: string[], timeoutMs: number, how: { captureStdout?: boolean; signal?: AbortSignal } = {}): Promise<NpmRun> {
    const { signal } = how;
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      // Its own process group, so a timeout also stops what npm started (git, tar workers); in a
      // build, its own pid namespace too, so nothing it started outlives it (build-namespace.ts).
      const wrapped = this.options.isolation ? wrapCommand(this.options.isolation, this.options.account, this.command, args, [this.dir, this.options.cacheDir]) : { command: this.command, args, switched: false };
      const child = spawn(wrapped.command, wrapped.args, {
        cwd: this.dir, env: this.options.env ?? npmEnvironment(), stdio: ['ignore', 'pipe', 'pipe'], detached: true,
        uid: wrapped.switched ? undefined : this.options.account?.uid, gid: wrapped.switched ? undefined : this.options.account?.gid,
      });
      const tail: string[] = [];
      let output = '';
      const keep = (line: string) => {
        if (line.trim() === '' || NOISE.test(line)) return;
        tail.push(line);
        if (tail.length > INSTALL_FAILURE_TAIL_LINES) tail.shift();
      };
      const stdout = new LineSplitter(keep, INSTALL_OUTPUT_LINE_BYTES);
      const stderr = new LineSplitter(keep, INSTALL_OUTPUT_LINE_BYTES);
      child.stdout.on('data', (chunk: Buffer) => (how.captureStdout ? (output += chunk) : stdout.push(chunk)));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = () => {
        signalGroup(child.pid, 'SIGTERM');
        killTimer ??= setTimeout(() => signalGroup(child.pid, 'SIGKILL'), NPM_KILL_GRACE_MS);
      };
      const deadline = setTimeout(() => { timedOut = true; stop(); }, timeoutMs);
      signal?.addEventListener('abort', stop, { once: true });

      let spawnFailed = false;
      child.once('error', (err) => { spawnFailed = true; keep(`could not run npm: ${err.message}`); });
      child.once('close', (code, killedBy) => {
        clearTimeout(deadline);
        clearTimeout(killTimer);
        signal?.removeEventListener('abort', stop);
        stdout.end();
        stderr.end();
        if (signal?.aborted) return reject(signal.reason);
        const exit = spawnFailed ? ' to start' : killedBy !== null ? ` (killed by ${killedBy})` : ` (exit code ${code})`;
        resolve({ ok: code === 0, timedOut, exit, tail, output });
      });
    });
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * flexd's environment for npm, less what `npm start` leaves in it: `npm_package_*`, the calling
 * npm's prefix and `-s` (loglevel silent) would steer the build's npm. Kept: the connection
 * settings an operator sets for a registry mirror or a proxy.
 */
function npmEnvironment(): NodeJS.ProcessEnv {
  const kept = /^npm_config_(registry|userconfig|globalconfig|cafile|ca|proxy|https_proxy|noproxy|strict_ssl|.*:registry)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name) || kept.test(name)) env[name] = value;
  }
  env.NO_UPDATE_NOTIFIER = '1';
  return env;
}
