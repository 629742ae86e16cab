import { readFileSync } from 'node:fs';
import { statFields } from '../procfs.ts';

/**
 * `npx flexd serve` runs flexd three processes down: `npm exec` → `sh -c flexd serve …` → node.
 * A supervisor that tracks one pid signals npm; npm forwards the signal to the shell, the shell
 * (dash) dies without passing it on, and flexd was left behind, re-parented to init, holding
 * the port, the data dir and its replicas (issue 16). So when npm started flexd, flexd watches
 * every process between itself and npm, and stops as on SIGTERM once any of them is gone, however
 * it went (a forwarded signal, SIGKILL, a crash). Started any other way (systemd, docker, a
 * shell, nohup) nothing is watched: there a parent that goes away is no request to stop.
 */

/** How often the chain is looked at: a stop within about a second, at the cost of a few syscalls. */
export const LAUNCHER_POLL_MS = 1_000;
/** npm exec → sh → (env wrapper) → flexd: a launcher further up than this is not flexd's. */
const MAX_CHAIN = 5;

export interface Launcher {
  /** the processes from flexd's parent up to npm itself, nearest first */
  chain: number[];
  /** npm's pid, for the stop line */
  npmPid: number;
}

/**
 * The npm (or npx) process that started this one, and the processes in between, when there is
 * one within MAX_CHAIN levels; undefined otherwise. Linux reads /proc; elsewhere, a process
 * that npm started (npm's `npm_command` in its environment) watches its direct parent only.
 */
export function findLauncher(env: NodeJS.ProcessEnv = process.env, startPid = process.ppid): Launcher | undefined {
  const chain: number[] = [];
  let pid = startPid;
  for (let depth = 0; depth < MAX_CHAIN && pid > 1; depth++) {
    const info = processInfo(pid);
    if (!info) break;
    chain.push(pid);
    if (isNpm(info.cmdline)) return { chain, npmPid: pid };
    pid = info.ppid;
  }
  if (chain.length === 0 && env.npm_command && startPid > 1) return { chain: [startPid], npmPid: startPid };
  return undefined;
}

/**
 * Calls `onGone` once when a process of the launcher's chain has ended (or is a zombie nobody
 * reaps), or this process was re-parented. The timer does not keep flexd alive.
 *
 * @example watchLauncher(launcher, (pid) => stop(`npm (pid ${pid}) is gone`))
 */
export function watchLauncher(launcher: Launcher, onGone: (pid: number) => void, intervalMs = LAUNCHER_POLL_MS): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    const gone = process.ppid !== parent ? parent : launcher.chain.find((pid) => !alive(pid));
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** npm's own process: titled `npm exec …`/`npm start` by npm, or node running npm-cli.js / npx-cli.js. */
export function isNpm(cmdline: string[]): boolean {
  const [first = '', second = ''] = cmdline;
  if (/^(npm|npx)( |$)/.test(first)) return true;
  const script = /(^|\/)node(js)?$/.test(first) ? second : first;
  return /(^|\/)(npm|npx)(-cli\.js)?$/.test(script);
}

function processInfo(pid: number): { ppid: number; cmdline: string[] } | undefined {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
    return { ppid: statOf(pid).ppid, cmdline };
  } catch {
    return undefined;
  }
}

/** /proc/PID/stat's state and parent; throws when the process is gone or there is no /proc. */
function statOf(pid: number): { state: string; ppid: number } {
  const fields = statFields(pid);
  if (!fields) throw new Error(`no /proc/${pid}/stat`);
  return { state: fields[0]!, ppid: Number(fields[1]) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return statOf(pid).state !== 'Z';
  } catch {
    return true; // no /proc: kill(0) said it exists
  }
}
