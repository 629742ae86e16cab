import { parseArgs } from 'node:util';
import { DEFAULTS } from '../config.ts';
import { createRuntime, type RuntimeOptions } from '../runtime.ts';
import { findLauncher, watchLauncher } from './launcher-watch.ts';
import { SERVE_HELP } from './serve-help.ts';
import { requestedLogFormat, ServeLines } from './serve-lines.ts';

/**
 * `flexd serve`: a thin wrapper around createRuntime. Each flag is also an environment
 * variable (FLEXD_ + the flag in upper snake case): flags win, then variables, then defaults.
 */
const FLAGS = {
  host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' }, 'run-dir': { type: 'string' },
  'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
  'request-timeout-ms': { type: 'string' }, 'idle-timeout-ms': { type: 'string' }, 'memory-limit-mb': { type: 'string' }, 'memory-budget-mb': { type: 'string' },
  'ready-timeout-ms': { type: 'string' }, 'stop-grace-ms': { type: 'string' }, 'log-ring-bytes': { type: 'string' },
  'min-replicas': { type: 'string' }, 'max-replicas': { type: 'string' }, 'max-queue': { type: 'string' },
  'max-in-flight-per-replica': { type: 'string' }, 'crash-budget': { type: 'string' }, 'crash-window-ms': { type: 'string' },
  'log-format': { type: 'string' }, 'metrics-token': { type: 'string' },
  database: { type: 'string' }, 'node-name': { type: 'string' }, 'node-heartbeat-ms': { type: 'string' }, 'node-live-window-ms': { type: 'string' },
  'job-lease-ms': { type: 'string' }, 'job-poll-ms': { type: 'string' }, 'job-max-attempts': { type: 'string' },
  'trust-proxy': { type: 'boolean' }, 'uid-range-start': { type: 'string' }, 'uid-range-size': { type: 'string' },
  'spare-replica': { type: 'string' },
  'default-runtime': { type: 'string' }, 'legacy-runtimes': { type: 'string' }, 'runtimes-dir': { type: 'string' }, 'runtime-registry': { type: 'string' },
  'unused-runtime-grace-ms': { type: 'string' },
  'npm-cache-dir': { type: 'string' }, 'password-hash-cost': { type: 'string' },
  runtime: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const envName = (flag: string) => `FLEXD_${flag.replace(/-/g, '_').toUpperCase()}`;

export function serveOptions(argv: string[], env: NodeJS.ProcessEnv): RuntimeOptions | 'help' {
  const { values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false });
  if (values.help) return 'help';
  const options: Record<string, unknown> = {};
  for (const flag of Object.keys(FLAGS)) {
    if (flag === 'help' || flag === 'runtime') continue;
    const raw = (values as Record<string, unknown>)[flag] ?? env[flag === 'database' ? 'FLEXD_DATABASE_URL' : envName(flag)];
    if (raw === undefined || raw === '') continue;
    const key = camel(flag);
    if (typeof DEFAULTS[key as keyof typeof DEFAULTS] === 'boolean') {
      if (raw !== true && !/^(true|false|1|0)$/.test(String(raw))) throw new Error(`${envName(flag)} must be true or false, got "${raw}"`);
      options[key] = raw === true || raw === 'true' || raw === '1';
    } else if (typeof DEFAULTS[key as keyof typeof DEFAULTS] === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} must be a non-negative number, got "${raw}"`);
      options[key] = n;
    } else {
      options[key] = raw;
    }
  }
  const runtimes = [...(values.runtime ?? []), ...(env.FLEXD_RUNTIMES ? env.FLEXD_RUNTIMES.split(',') : [])];
  if (runtimes.length > 0) {
    options.runtimes = Object.fromEntries(runtimes.map((r) => {
      const eq = r.indexOf('=');
      if (eq <= 0) throw new Error(`--runtime must look like name=/path/to/node, got "${r}"`);
      return [r.slice(0, eq), r.slice(eq + 1)];
    }));
  }
  if (options.logFormat !== undefined && options.logFormat !== 'text' && options.logFormat !== 'json') {
    throw new Error(`--log-format must be text or json, got "${String(options.logFormat)}"`);
  }
  options.log = 'stderr';
  options.adminEmail = env.FLEXD_ADMIN_EMAIL;
  options.adminPassword = env.FLEXD_ADMIN_PASSWORD;
  return options as RuntimeOptions;
}

export async function serve(argv: string[]): Promise<void> {
  const lines = new ServeLines(requestedLogFormat(argv, process.env));
  lines.captureWarnings();
  const options = serveOptions(argv, process.env);
  // Read once; not left for processes flexd starts (builds) to inherit (docs/security.md).
  delete process.env.FLEXD_ADMIN_PASSWORD;
  if (options === 'help') {
    console.log(SERVE_HELP);
    return;
  }
  const launcher = findLauncher(process.env);
  const runtime = await createRuntime({ ...options, generateAdminPassword: true });
  // Before the lines that say flexd is up: a process manager may send SIGTERM the moment it reads
  // them, and a signal without a handler yet ends flexd with no drain (seen: a SIGTERM sent on
  // reading "listening" killed it in about half the tries).
  const stopper = stopOnSignals(() => runtime.close(), { say: (text, level, fields) => lines.err(level, text, fields) });
  process.on('SIGTERM', () => stopper.signal('SIGTERM'));
  process.on('SIGINT', () => stopper.signal('SIGINT'));
  // The one time a generated password is shown; it is never logged anywhere else.
  if (runtime.generatedAdmin) {
    const { email, password } = runtime.generatedAdmin;
    lines.out(`flexd: created admin ${email} with password ${password}`, { email, password });
  }
  lines.out(`flexd listening on ${runtime.url}`, { url: runtime.url });
  if (launcher) {
    watchLauncher(launcher, (pid) => stopper.launcherGone(
      pid === launcher.npmPid ? `npm (pid ${pid}), which started flexd, has ended` : `the shell between npm (pid ${launcher.npmPid}) and flexd (pid ${pid}) has ended`,
      { npmPid: launcher.npmPid, endedPid: pid },
    ));
  }
}
/**
 * A repeat of a stop signal within this long is the same request delivered twice, not a second
 * request: a process manager (or npm, which forwards SIGTERM and SIGINT to its script) may
 * signal the main PID and the whole group at once, and Ctrl-C reaches both npm and flexd.
 * Long enough for two deliveries of one event, short enough that a person's second Ctrl-C counts.
 */
export const DUPLICATE_SIGNAL_MS = 500;

/** What the stop handler prints: the text (as a person reads it, without the `flexd: ` prefix), its level and fields. */
export type StopSay = (text: string, level: 'info' | 'error', fields: Record<string, unknown>) => void;

/**
 * The stop handler of `flexd serve`: the first SIGTERM/SIGINT drains and stops (exit 0); the
 * same signal again within DUPLICATE_SIGNAL_MS is ignored; a later one (a second Ctrl-C, or a
 * process manager that lost patience) exits at once with code 1. `launcherGone` (npm, which
 * started flexd, has ended: launcher-watch.ts) stops like a first signal, and is ignored once a
 * stop is under way: a Ctrl-C reaches flexd and npm alike, and npm ending a moment later is the
 * same request, not a second one.
 */
export function stopOnSignals(
  close: () => Promise<void>,
  o: { now?: () => number; exit?: (code: number) => void; say?: StopSay } = {},
): { signal(name: string): void; launcherGone(why: string, fields?: Record<string, unknown>): void } {
  const { now = Date.now, exit = (code: number) => process.exit(code), say = (text: string) => console.error(`flexd: ${text}`) } = o;
  let firstAt: number | undefined;
  const stop = (text: string, fields: Record<string, unknown>) => {
    firstAt = now();
    say(`${text}, draining requests and stopping replicas`, 'info', fields);
    close().then(() => exit(0), (err) => {
      say(`shutdown failed: ${(err as Error).message}`, 'error', {});
      if (process.env.FLEXD_DEBUG) console.error((err as Error).stack);
      exit(1);
    });
  };
  return {
    signal(name) {
      if (firstAt === undefined) return stop(`${name} received`, { signal: name });
      if (now() - firstAt < DUPLICATE_SIGNAL_MS) return;
      say(`second ${name}, exiting now`, 'error', { signal: name });
      exit(1);
    },
    launcherGone(why, fields = {}) {
      if (firstAt === undefined) stop(why, fields);
    },
  };
}
