/**
 * The pieces `npm run bench` is built from: processes it starts (flexd, the bare server, the
 * load generator), statistics, /proc readings, the machine. Each server and each load run is
 * its own process, so no two of them share an event loop.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_DIR = fileURLToPath(new URL('./', import.meta.url));
export const FIXTURE_DIR = join(REPO, 'test/fixtures/bench-service');
/** Inside the repo, so copies of the fixture resolve kinvey-flex-sdk from the repo's node_modules. */
export const RESULTS_DIR = join(REPO, 'bench-results');
export const TMP_DIR = join(RESULTS_DIR, 'tmp');

/** A child's environment without the parent's loader flags (tsx) or test-runner variables. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'SDK_RECEIVER', 'FLEX_SHARED_SECRET']) delete env[name];
  return Object.assign(env, extra);
}

const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) c.kill('SIGKILL'); });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { for (const c of live) c.kill('SIGKILL'); process.exit(130); });

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

// ---------------------------------------------------------------------------------------------
// flexd in its own process

let started = 0;

export interface FlexdProcess {
  url: string;
  pid: number;
  call<T = any>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  /** Closes the runtime (replicas stopped) and waits for the process to exit. */
  close(): Promise<void>;
}

/**
 * Starts scripts/bench/flexd-server.ts of `tree` (default: this checkout; another checkout of
 * flexd compares two versions side by side) in its own process.
 */
export async function startFlexd(name: string, settings: Record<string, unknown> = {}, nodeFlags: string[] = [], tree = REPO): Promise<FlexdProcess> {
  // Outside the repo: the repo's package.json says "type": "module", and a data dir under it
  // makes the replicas load artifacts/<hash>/bundle.js as ESM (see the bench report).
  const dataDir = join(tmpdir(), `flexd-bench-${name}-${process.pid}-${++started}`);
  // BENCH_FLEXD_SETTINGS='{"logFlushMaxLines":250}' tries other defaults in every flexd the bench starts.
  settings = { ...settings, ...(process.env.BENCH_FLEXD_SETTINGS ? JSON.parse(process.env.BENCH_FLEXD_SETTINGS) : {}) };
  rmSync(dataDir, { recursive: true, force: true });
  const child = track(fork(join(tree, 'scripts/bench/flexd-server.ts'), [JSON.stringify({ dataDir, settings })], {
    execArgv: [...nodeFlags, '--import', 'tsx'], env: cleanEnv(), cwd: tree, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  }));
  let output = '';
  child.stdout!.on('data', (d) => { output += d; if (output.length > 100_000) output = output.slice(-50_000); });
  child.stderr!.on('data', (d) => { output += d; if (output.length > 100_000) output = output.slice(-50_000); });
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`flexd-server exited (${code}):\n${output.slice(-4000)}`));
    pending.clear();
    resolve(code);
  }));
  const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    child.on('message', (m: any) => {
      if (m.t === 'ready') { resolve(m); return; }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve(m.value); else p.reject(new Error(m.error));
    });
    void exited.then((code) => reject(new Error(`flexd-server exited before ready (${code}):\n${output}`)));
  });
  const call = <T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, cmd, ...args });
  });
  let closing: Promise<void> | undefined;
  return {
    ...ready,
    call,
    close() {
      closing ??= (async () => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await call('close').catch(() => {});
        await exited;
        clearTimeout(timer);
        rmSync(dataDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// the bare http server and the load generator

export async function startBare(routes: Record<string, string>): Promise<{ url: string; pid: number; stop(): void }> {
  const child = track(fork(join(BENCH_DIR, 'bare.mjs'), [JSON.stringify({ routes })], { execArgv: [], env: cleanEnv() }));
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    child.once('message', resolve as (m: unknown) => void);
    child.once('exit', (code) => reject(new Error(`bare server exited (${code})`)));
  });
  return { url, pid: child.pid!, stop: () => { child.kill('SIGTERM'); } };
}

export interface LoadRequest { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string }

export interface LoadResult {
  requests: number; seconds: number; rps: number; p50: number; p90: number; p99: number; max: number;
  non2xx: number; errors: number; timeouts: number; statusCodes: Record<string, number>;
  firstResponseAt: number; lastResponseAt: number;
  /** [doneAtEpochMs, latencyMs, status]; status 0 = an error or timeout */
  timeline?: [number, number, number][];
}

/** One autocannon run, in its own process (scripts/bench/load.mjs); `stop()` ends it early. */
export function runLoad(baseUrl: string, req: LoadRequest, o: { connections: number; seconds: number; timeline?: boolean }): Promise<LoadResult> & { stop(): void } {
  const config = {
    url: baseUrl + req.path, method: req.method, headers: req.headers, body: req.body,
    connections: o.connections, seconds: o.seconds, timeline: o.timeline,
  };
  const child = track(fork(join(BENCH_DIR, 'load.mjs'), [JSON.stringify(config)], { execArgv: [], env: cleanEnv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const done = new Promise<LoadResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('exit', (code) => { if (code !== 0) reject(new Error(`load generator exited with ${code}`)); });
  });
  return Object.assign(done, { stop: () => { if (child.connected) child.send('stop'); } });
}

// ---------------------------------------------------------------------------------------------
// statistics

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// /proc

export interface Mem { pid: number; rssBytes: number; pssBytes: number | null; name?: string }

export function memoryOf(pid: number): Mem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  const name = /^Name:\s+(.*)$/m.exec(status)?.[1];
  let pss: number | null = null;
  try {
    pss = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch { /* kernel without smaps_rollup */ }
  return { pid, rssBytes: rss, pssBytes: pss, name };
}

/** CPU time (user + system) a process has used so far, in ms; /proc counts in clock ticks (10 ms). */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) * (1000 / CLOCK_TICKS);
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100;

/** Every live descendant of `pid` (replicas, esbuild's service process…). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const c of children.get(p) ?? []) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

/** The 1-minute load average: other work on the machine skews every figure. */
export function loadAverage(): number {
  try { return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]); } catch { return NaN; }
}

export function machine(): { cpu: string; cores: number; node: string; memoryGb: number; kernel: string } {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const memKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  let kernel = 'unknown';
  try { kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(); } catch { /* not Linux */ }
  return { cpu, cores: cpus().length, node: process.version, memoryGb: Math.round(memKb / 1048576 * 10) / 10, kernel };
}

// ---------------------------------------------------------------------------------------------
// versions of the fixture

/** A copy of the bench fixture with `version`, inside the repo (bench-results/tmp) so its SDK resolves. */
export function fixtureVersion(version: string, tag = 'v'): string {
  const dir = join(TMP_DIR, `bench-service-${tag}-${version}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(FIXTURE_DIR, dir, { recursive: true });
  const pkgFile = join(dir, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  pkg.version = version;
  writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
  return dir;
}
