/**
 * flexd's server log (src/events/server-log.ts): one line per event an operator cares about, in
 * both formats. One runtime goes through every event once, logging to a recorder that writes
 * each event in JSON and in text, so each event is checked in both shapes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createLogger, type Logger } from '../../src/logger.ts';
import { ECHO_PROJECT } from '../api/helpers.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { flexdCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, deployFixture, failedDeploy, REPO_DIR, signal, startRuntime, whoami, type Harness } from '../lifecycle/helpers.ts';

interface Recorder { logger: Logger; json: Record<string, any>[]; text: string[] }

/** A logger that writes every line twice: as pino's JSON and as flexd's text format. */
function recorder(): Recorder {
  const json: Record<string, any>[] = [];
  const text: string[] = [];
  const jsonOut = new PassThrough();
  const textOut = new PassThrough();
  jsonOut.setEncoding('utf8').on('data', (chunk: string) => json.push(...chunk.split('\n').filter(Boolean).map((l) => JSON.parse(l))));
  textOut.setEncoding('utf8').on('data', (chunk: string) => text.push(...chunk.split('\n').filter(Boolean)));
  const a = createLogger({ format: 'json', destination: jsonOut });
  const b = createLogger({ format: 'text', destination: textOut });
  const both = (level: keyof Logger): Logger[keyof Logger] => (fields, msg) => { a[level](fields, msg); b[level](fields, msg); };
  return { logger: { debug: both('debug'), info: both('info'), warn: both('warn'), error: both('error') }, json, text };
}

/**
 * Waits for the event `msg` (with `fields`) in both formats and returns its JSON record. The
 * text line must read `<time> <LEVEL> <msg> … key=value …`.
 */
async function line(r: Recorder, msgs: string | string[], fields: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<Record<string, any>> {
  const accepted = typeof msgs === 'string' ? [msgs] : msgs;
  const matches = (j: Record<string, any>) => accepted.includes(j.msg) && Object.entries(fields).every(([k, v]) => j[k] === v);
  const record = await waitFor(`the server log line "${accepted.join('" or "')}" ${JSON.stringify(fields)}`, () => r.json.find(matches), { timeoutMs });
  const msg: string = record.msg;
  assert.equal(typeof record.time, 'string');
  assert.ok(!Number.isNaN(Date.parse(record.time)), record.time);
  assert.match(record.level, /^(info|warn|error)$/);
  const textLine = await waitFor(`the text line "${msg}"`, () => r.text.find((l) => l.includes(` ${msg}`)
    && Object.entries(fields).every(([k, v]) => k === 'level' || l.includes(` ${k}=${typeof v === 'string' && !/^[\w.:/@+-]+$/.test(v) ? JSON.stringify(v) : String(v)}`))));
  assert.match(textLine, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${record.level.toUpperCase()}\\s+${msg.replace(/[.*+?^${}()|[\]\\;:]/g, '\\$&')}`));
  return record;
}

/** The containerId of the replica with `pid`, as the pool describes it. */
async function containerOf(h: Harness, pid: number): Promise<string> {
  return waitFor(`the replica with pid ${pid}`, () => h.pool('orders', 'Development').describe().find((x) => x.pid === pid)?.containerId);
}

async function environment(h: Harness, service: string, name: string, settings: Record<string, number | boolean>): Promise<void> {
  const { services, accounts } = h.rt.context.store;
  const svc = (await services.findService(service)) ?? (await services.createService((await accounts.defaultOrganization()).id, service));
  await services.createEnvironment(svc.id, { name, secret: '', settings });
}

test('server log: start, deploys, swaps, replica exits and restarts by reason, idling, suspension and shutdown are one line each, in JSON and in text', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-serverlog-');
  const r = recorder();
  // A replica starved of CPU on a loaded box may miss a ping: a generous timeout and budget keep
  // such a stall from suspending the environment mid-test.
  const h = await startRuntime(cleanup, { logger: r.logger, crashBudget: 4, livenessIntervalMs: 500, livenessTimeoutMs: 2_000 }, dataDir);

  const start = await line(r, 'flexd started', { dataDir, environmentsRestored: 0 });
  assert.match(start.version, /^\d+\.\d+\.\d+/);
  assert.match(start.isolation, /root|this user/);

  const orders = { service: 'orders', environment: 'Development' };
  await deployFixture(h, cleanup, 'versioned', '1.0.0', orders);
  await line(r, 'deploy started', { ...orders });
  const finished = await line(r, 'deploy finished', { ...orders, version: '1.0.0' });
  assert.equal(typeof finished.durationMs, 'number');
  await line(r, 'version started', { ...orders, to: '1.0.0' });

  await deployFixture(h, cleanup, 'versioned', '1.1.0', orders);
  await line(r, 'swapped versions', { ...orders, from: '1.0.0', to: '1.1.0', replicas: 1 });

  const failure = await failedDeploy(h, cleanup, 'throws-at-start', '1.2.0', orders);
  assert.match(failure.message, /failed to start/);
  const failed = await line(r, 'deploy failed', { ...orders, version: '1.2.0', level: 'error' });
  assert.match(failed.reason, /failed to start/);

  // A crash: the replica is killed from outside; it is replaced at once.
  const base = h.base(orders.service, orders.environment);
  const crashed = await whoami(base, 'the replica before the crash');
  signal(crashed.pid, 'SIGKILL');
  const crash = await line(r, 'replica exited; restarting', { ...orders, reason: 'crash', restartInMs: 0 });
  assert.match(crash.detail, /SIGKILL/);

  // Liveness: a stopped replica no longer answers pings.
  await waitFor('the replacement to serve', async () => (await whoami(base, 'the replacement')).pid !== crashed.pid);
  const frozen = await whoami(base, 'the replica before it is frozen');
  const frozenId = await containerOf(h, frozen.pid);
  signal(frozen.pid, 'SIGSTOP');
  // Restarted at once, or (after a stall the box caused) only when the next request comes.
  const exited = ['replica exited; restarting', 'replica exited'];
  const liveness = await line(r, exited, { ...orders, containerId: frozenId, reason: 'liveness', level: 'warn' });
  assert.match(liveness.detail, /liveness/);

  // Memory: Buffers past the environment's cap, caught by the watchdog.
  await environment(h, 'hog', 'Development', { memoryLimitMb: 96 });
  await deployFixture(h, cleanup, 'buffer-hog', '1.0.0', { service: 'hog', environment: 'Development' });
  const grown = await withDeadline('the answer to grow', callFunction(h.base('hog', 'Development'), 'grow'), 10_000);
  assert.equal(grown.status, 502);
  const memory = await line(r, exited, { service: 'hog', reason: 'memory', level: 'warn' });
  assert.match(memory.detail, /memory cap of 96 MB/);

  // Idling: an environment with a short idle period stops its replicas.
  await environment(h, 'sleepy', 'Development', { idleTimeoutMs: 300 });
  await deployFixture(h, cleanup, 'versioned', '1.0.0', { service: 'sleepy', environment: 'Development' });
  const idle = await line(r, 'environment idle: replicas stopped', { service: 'sleepy', environment: 'Development', replicas: 1 });
  assert.ok(idle.idleMs >= 300);

  // Suspension: a service that crashes right after every start spends the crash budget (4).
  // Outside the data dir, which no replica may read (docs/security.md), and readable by its account.
  const markerDir = await tempDir(cleanup, 'flexd-crash-marker-');
  chmodSync(markerDir, 0o755);
  const marker = `${markerDir}/crash-marker`;
  writeFileSync(marker, '');
  await environment(h, 'crashy', 'Development', { permissionModel: false });
  await deployFixture(h, cleanup, 'crashes-after-ready', '1.0.0', { service: 'crashy', environment: 'Development', env: { CRASH_MARKER: marker } });
  // Five starts and crashes with backoff between them: allow for a slow box.
  const suspended = await line(r, 'environment suspended', { service: 'crashy', environment: 'Development', level: 'error' }, 60_000);
  assert.match(suspended.reason, /more than 4 crashes/);

  // Shutdown, then a start that restores what was deployed.
  await h.close();
  await line(r, 'flexd stopping: draining requests, stopping replicas');
  const stopped = await line(r, 'flexd stopped');
  assert.equal(typeof stopped.durationMs, 'number');

  const again = recorder();
  const h2 = await startRuntime(cleanup, { logger: again.logger }, dataDir);
  await line(again, 'flexd started', { dataDir, environmentsRestored: 4 });
  await h2.close();

  const secrets = JSON.stringify(r.json) + r.text.join('\n');
  assert.doesNotMatch(secrets, /CRASH_MARKER|passwordHash|secret/i, 'no variables or secrets in the server log');
});

test('server log: under flexd serve --log-format json every line on stdout and stderr is one JSON object, through start, a deploy and SIGTERM', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-serve-json-');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FLEXD_ADMIN_PASSWORD; // so the generated password's line is printed too
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [join(REPO_DIR, 'bin', 'flexd.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--log-format', 'json'], {
    cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'], env,
  });
  cleanup.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const parsed = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => {
    try {
      const record = JSON.parse(l) as Record<string, any>;
      assert.equal(typeof record, 'object');
      assert.ok(record !== null && !Array.isArray(record), l);
      return record;
    } catch (err) {
      throw new Error(`not one JSON object: ${JSON.stringify(l)} (${(err as Error).message})`);
    }
  });
  const listening = await waitFor('the listening line', () => parsed(stdout).find((l) => l.url && /^flexd listening on /.test(l.msg)), { timeoutMs: 30_000 });
  assert.equal(listening.level, 'info');
  assert.match(listening.time, /^\d{4}-\d{2}-\d{2}T/);
  const admin = parsed(stdout).find((l) => /created admin/.test(l.msg));
  assert.ok(admin?.password, 'the generated password is printed once, as a JSON line too');
  const started = parsed(stderr).find((l) => l.msg === 'flexd started');
  assert.equal(started?.url, listening.url);

  // a deploy through the CLI, with its npm install, build and activation lines
  const cli = flexdCli(await tempDir(cleanup, 'flexd-serve-json-home-'));
  await cli.ok(['login', '--host', listening.url, '--email', admin.email, '--password', admin.password]);
  await cli.ok(['create', 'orders']);
  await cli.ok(['deploy', ECHO_PROJECT, '--service', 'orders']);
  await waitFor('the deploy finished line', () => parsed(stderr).find((l) => l.msg === 'deploy finished'), { timeoutMs: 30_000 });

  child.kill('SIGTERM');
  assert.equal(await withDeadline('flexd to exit', exited, 30_000), 0);
  const out = parsed(stdout);
  const err = parsed(stderr);
  for (const record of [...out, ...err]) {
    assert.equal(typeof record.msg, 'string', JSON.stringify(record));
    assert.ok(['debug', 'info', 'warn', 'error'].includes(record.level), JSON.stringify(record));
  }
  assert.ok(err.some((l) => l.msg === 'SIGTERM received, draining requests and stopping replicas' && l.signal === 'SIGTERM'));
  const stopping = err.find((l) => l.msg === 'flexd stopping: draining requests, stopping replicas');
  assert.equal(stopping?.inFlight, 0, 'the stop line counts the requests in flight');
  assert.equal(typeof err.find((l) => l.msg === 'flexd stopped')?.durationMs, 'number');
  assert.ok(err.some((l) => l.msg === 'version started'), 'the replica\'s start is logged');
});
