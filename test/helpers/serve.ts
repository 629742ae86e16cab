/**
 * `flexd serve` as a process of its own, the way an operator runs it (bin/flexd.js, port 0):
 *
 *   const served = spawnServe(cleanup, ['--data-dir', dataDir]);
 *   const url = await withDeadline('flexd to listen', served.url, SERVE_START_TIMEOUT_MS);
 *   served.child.kill('SIGTERM');
 *   const { code } = await withDeadline('flexd to exit', served.exited, 15_000);
 *
 * `url` settles with the address of the "flexd listening on URL" line (text or `--log-format
 * json`), or rejects when the process exits first (quoting what it printed); `cleanup` SIGKILLs a
 * process still running (or SIGTERMs it first: `stopGently`).
 *
 * Every test that starts `flexd serve` as a process uses this (another bin: `bin`, e.g. the
 * packed tarball's; another account: `uid`/`gid`). The launchers that put a process between the
 * signal and flexd (`npm start`, `npx`) are what test/serve.test.ts and test/serve-npx.test.ts
 * test, so they spawn those launchers themselves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CleanupContext } from './cleanup.ts';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const FLEXD_BIN = join(REPO_DIR, 'bin', 'flexd.js');
/**
 * bin/flexd.js loads flexd's sources through tsx on the way up (a few seconds of CPU): at load 30
 * (several full runs side by side) that took over 30 s. A deadline catches a hang; it does not time the start.
 */
export const SERVE_START_TIMEOUT_MS = 90_000;

export interface Served {
  child: ChildProcess;
  /** the URL it listens on, once it says so */
  url: Promise<string>;
  /** stdout and stderr so far, interleaved as they came */
  output(): string;
  /** stderr so far, as lines */
  stderrLines(): string[];
  /** stdout and stderr so far, each apart */
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ServeOptions {
  /** The process's whole environment (default: this one's, without the test runner's variables). */
  env?: NodeJS.ProcessEnv;
  /** The flexd bin node runs (default: this checkout's bin/flexd.js, through tsx). */
  bin?: string;
  /** Its working directory (default: this checkout). */
  cwd?: string;
  /**
   * Cleanup sends SIGTERM and waits up to this long before SIGKILL: for a data dir whose
   * replicas must stop before the folder is removed (default: SIGKILL at once).
   */
  stopGently?: { graceMs: number };
  uid?: number;
  gid?: number;
}

/** Starts `node bin/flexd.js serve --port 0 <args>`. */
export function spawnServe(cleanup: CleanupContext, args: string[], o: ServeOptions = {}): Served {
  const child = spawn(process.execPath, [o.bin ?? FLEXD_BIN, 'serve', '--port', '0', ...args], {
    cwd: o.cwd ?? REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? serveEnv(), uid: o.uid, gid: o.gid,
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  cleanup.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (!o.stopGently) {
      child.kill('SIGKILL');
      await exited;
      return;
    }
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), o.stopGently.graceMs);
    await exited;
    clearTimeout(killer);
  });
  let output = '';
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; stderr += d; });
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      output += d;
      stdout += d;
      const m = /flexd listening on (https?:\/\/[^\s"]+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void exited.then(({ code, signal }) => reject(new Error(`flexd serve exited (code ${code}, signal ${signal}) before it listened:\n${output}`)));
  });
  url.catch(() => {}); // a test that expects the exit awaits `exited` instead
  return {
    child, url, exited, output: () => output, stdout: () => stdout, stderr: () => stderr,
    stderrLines: () => stderr.split('\n').filter(Boolean),
  };
}

/** This process's environment without the test runner's own variables (tsx's loader, node:test's context). */
export function serveEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT']) if (!(name in extra)) delete env[name];
  return env;
}
