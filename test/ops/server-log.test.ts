/**
 * flexd's server log (src/events/server-log.ts): one line per event an operator cares about, in
 * both formats (test/helpers/server-log.ts writes each event in JSON and in text), and
 * docs/monitoring.md's account of it. One runtime goes through its own life once — start, two
 * deploys (a swap), a failed deploy, a rollback, a variable and settings change, a recycle, an
 * embedder's rollback and change of variables (issue 16 item 8; no account: no by field, in the
 * status page's recent events too), a crash, shutdown and the restore at the next start — and two
 * tests read that run: each event's line, and the doc's sample lines and message table against
 * every line printed (issue 16: the docs showed `inFlight=0` where flexd logged `inFlight="{}"`). Then `flexd serve --log-format
 * json`. The events of a replica's or an environment's trouble beyond the one crash are checked by
 * the tests that cause them, on the runs they make anyway: a liveness kill in
 * test/lifecycle/replica-death.test.ts, the memory watchdog in test/lifecycle/memory.test.ts,
 * idling in test/lifecycle/idle-and-scaling.test.ts, suspension in
 * test/lifecycle/crash-loop.test.ts. The stop here is checked for its lines only; the drain itself
 * (requests in flight finish, replicas stop) is test/lifecycle/runtime-process.test.ts F13, and
 * the other launchers' signal paths test/serve.test.ts and test/serve-npx.test.ts.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { recentEvents } from '../../src/ui/data.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { flexdCli, installedFlexdBin } from '../helpers/cli.ts';
import { ECHO_PROJECT } from '../helpers/echo-project.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { TEST_PASSWORD_HASH_COST } from '../helpers/password-cost.ts';
import { SERVE_START_TIMEOUT_MS, serveEnv, spawnServe } from '../helpers/serve.ts';
import { serverLogLine as line, serverLogRecorder as recorder } from '../helpers/server-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { deployFixture, failedDeploy, signal, startRuntime, whoami } from '../lifecycle/helpers.ts';

/** A deploy whose npm install runs for real (what the warm cache lacks comes from the registry), on a loaded machine. */
const REGISTRY_DEPLOY_TIMEOUT_MS = 240_000;
/** A management call or a job on versions already built (a swap), on a loaded machine. */
const CALL_TIMEOUT_MS = 60_000;
const DOC = fileURLToPath(new URL('../../docs/monitoring.md', import.meta.url));
const ADMIN = { email: 'ops@example.com', password: 'server-log-password' };
const ORDERS = { service: 'orders', environment: 'Development' };

interface Line { level: string; msg: string; fields: Record<string, string> }

/** `2026-11-29T23:53:02.951Z INFO  msg key=value key="quoted value"` → its level, message and raw field values. */
function parseTextLine(text: string): Line | undefined {
  const m = /^\d{4}-\d\d-\d\dT[\d:.]+Z (DEBUG|INFO|WARN|ERROR) +(.*)$/.exec(text);
  if (!m) return undefined;
  const rest = m[2]!;
  const field = / ([A-Za-z][A-Za-z0-9]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  const first = rest.search(/ [A-Za-z][A-Za-z0-9]*=/);
  const msg = first === -1 ? rest : rest.slice(0, first);
  const fields: Record<string, string> = {};
  for (const f of (first === -1 ? '' : rest.slice(first)).matchAll(field)) fields[f[1]!] = f[2]!;
  return { level: m[1]!.toLowerCase(), msg, fields };
}

/**
 * A value's shape: a number, a quoted string, or a bare word (an id shortened with … is still a
 * word, and so is an id whose random hex digits happen to be all decimal: `containerId=721632375654`).
 */
function shape(value: string, key: string): 'number' | 'quoted' | 'word' {
  if (/^-?\d+(\.\d+)?$/.test(value) && !/(^id|Id)$/.test(key)) return 'number';
  return value.startsWith('"') ? 'quoted' : 'word';
}

describe('server log: a runtime\'s own life, once', () => {
  const cleanup = cleanupStack({ after });
  /** the first start's lines, then the restoring start's */
  const first = recorder();
  const restart = recorder();
  let dataDir: string;
  /** the status page's three newest events after the embedder's changes */
  let embedderEvents: string[] = [];

  before(async () => {
    dataDir = await tempDir(cleanup, 'flexd-serverlog-');
    const h = await startRuntime(cleanup, { logger: first.logger, adminEmail: ADMIN.email, adminPassword: ADMIN.password, passwordHashCost: TEST_PASSWORD_HASH_COST }, dataDir);
    // A variable and a secret, neither of which may reach the server log.
    await deployFixture(h, cleanup, 'versioned', '1.0.0', { ...ORDERS, secret: 'orders-key-d41d8cd9', env: { ORDERS_TOKEN: 'orders-token-8f00b204' } });
    await deployFixture(h, cleanup, 'versioned', '1.1.0', ORDERS);
    await failedDeploy(h, cleanup, 'throws-at-start', '1.2.0', ORDERS);

    // A rollback, a change of variables and settings, and a recycle, through the management API as an operator makes them.
    const call = async (method: string, path: string, token: string | undefined, body?: unknown) => {
      const res = await withDeadline(`${method} ${path}`, fetch(`${h.rt.url}${path}`, {
        method, headers: { 'content-type': 'application/json', ...(token ? { Authorization: `Kinvey ${token}` } : {}) }, body: body === undefined ? undefined : JSON.stringify(body),
      }), CALL_TIMEOUT_MS);
      return { status: res.status, headers: res.headers, body: await res.json() as any };
    };
    const { token } = (await call('POST', '/session', undefined, ADMIN)).body as { token: string };
    const sid = ((await call('GET', '/v4/services', token)).body as Array<{ id: string; name: string }>).find((s) => s.name === ORDERS.service)!.id;
    const [environment] = (await call('GET', `/v4/services/${sid}/environments`, token)).body as Array<Record<string, any>>;
    const eid = environment!.id as string;
    const job = async (body: unknown) => {
      const res = await call('POST', '/v4/jobs', token, body);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const done = await withDeadline(`job ${res.body.job}`, h.rt.context.deployer.jobs.wait(res.body.job), CALL_TIMEOUT_MS);
      assert.equal(done.status, 'COMPLETED', done.progress);
    };
    await job({ type: 'rollbackService', params: { serviceId: sid, serviceEnvironmentId: eid, version: '1.0.0' } });
    const { id: _id, secret: _secret, ...rest } = environment!;
    const put = await call('PUT', `/v4/services/${sid}/environments/${eid}`, token,
      { ...rest, environmentVariables: { ...rest.environmentVariables, API_KEY: 'Value-Never-Logged' }, settings: { ...rest.settings, memoryLimitMb: 512 } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    await withDeadline('the change applied', h.rt.context.deployer.jobs.wait(put.headers.get('x-flexd-job')!), CALL_TIMEOUT_MS);
    await job({ type: 'recycleService', params: { serviceId: sid, serviceEnvironmentId: eid } });

    // An embedder's rollback and change of variables (no account): events too, without a by field,
    // naming the variable and never its value; the status page's recent events as they stand then.
    await withDeadline('the embedder\'s rollback', h.rt.rollback(ORDERS, '1.1.0'), CALL_TIMEOUT_MS);
    await withDeadline('the embedder\'s change of variables', h.rt.setVariables(ORDERS, { EMBEDDED_KEY: 'embedded-value-5f4dcc3b' }), CALL_TIMEOUT_MS);
    embedderEvents = recentEvents(h.rt.context).slice(0, 3).map((e) => e.text);

    const { pid } = await whoami(h.base(ORDERS.service, ORDERS.environment), 'the replica before the crash', { secret: 'orders-key-d41d8cd9' });
    signal(pid, 'SIGKILL');
    await line(first, 'replica exited; restarting', { ...ORDERS, reason: 'crash' }, 60_000);

    // Shutdown, then a start that restores what was deployed.
    await h.close();
    const h2 = await startRuntime(cleanup, { logger: restart.logger }, dataDir);
    await h2.close();
  });

  test('start, deploys, a swap, a failed deploy, a rollback, a change, a recycle, an embedder\'s rollback and change (no by field, also in the recent events), shutdown and the restore at the next start are one line each, in JSON and in text', async () => {
    const start = await line(first, 'flexd started', { dataDir, environmentsRestored: 0 });
    assert.match(start.version, /^\d+\.\d+\.\d+/);
    assert.match(start.isolation, /root|this user/);

    await line(first, 'deploy started', { ...ORDERS });
    const finished = await line(first, 'deploy finished', { ...ORDERS, version: '1.0.0' });
    assert.equal(typeof finished.durationMs, 'number');
    await line(first, 'version started', { ...ORDERS, to: '1.0.0' });
    await line(first, 'swapped versions', { ...ORDERS, from: '1.0.0', to: '1.1.0', replicas: 1 });

    const failed = await line(first, 'deploy failed', { ...ORDERS, version: '1.2.0', level: 'error' });
    assert.match(failed.reason, /failed to start/);

    await line(first, 'rolled back', { ...ORDERS, from: '1.1.0', to: '1.0.0', by: ADMIN.email });
    await line(first, 'environment changed', { ...ORDERS, changes: 'variables: API_KEY added; settings: memoryLimitMb default → 512', by: ADMIN.email });
    await line(first, 'replicas recycled', { ...ORDERS, version: '1.0.0', why: 'Recycle', by: ADMIN.email });
    // The embedder's: no account, no by field, in the server log and in the recent events.
    const embedderRollback = await line(first, 'rolled back', { ...ORDERS, from: '1.0.0', to: '1.1.0' });
    assert.equal('by' in embedderRollback, false, `no account: no by field: ${JSON.stringify(embedderRollback)}`);
    const embedderChange = await line(first, 'environment changed', { ...ORDERS, changes: 'variables: EMBEDDED_KEY added' });
    assert.equal('by' in embedderChange, false, `no account: no by field: ${JSON.stringify(embedderChange)}`);
    assert.deepEqual(embedderEvents, ['replicas of 1.1.0 restarted to apply the change', 'changed: variables: EMBEDDED_KEY added', 'rolled back from 1.0.0 to 1.1.0']);

    await line(first, 'flexd stopping: draining requests, stopping replicas');
    const stopped = await line(first, 'flexd stopped');
    assert.equal(typeof stopped.durationMs, 'number');
    await line(restart, 'flexd started', { dataDir, environmentsRestored: 1 });

    const logged = JSON.stringify([...first.json, ...restart.json]) + first.text.join('\n') + restart.text.join('\n');
    assert.doesNotMatch(logged, /orders-token-8f00b204|orders-key-d41d8cd9|Value-Never-Logged|embedded-value-5f4dcc3b|passwordHash|secret/i, 'no variable values or secrets in the server log');
    assert.doesNotMatch(logged, /ORDERS_TOKEN/, 'a variable that did not change is not named either');
  });

  test('docs/monitoring.md: its sample lines and message table match what the server log printed', async () => {
    const text = [...first.text, ...restart.text];
    const json = [...first.json, ...restart.json];
    if (process.env.FLEXD_DUMP_LOG) console.error(text.join('\n'));
    const doc = await readFile(DOC, 'utf8');
    const section = doc.slice(doc.indexOf('## Server log'), doc.indexOf('## Metrics'));
    const blocks = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
    const samples = blocks.filter((m) => m[1] === '').flatMap((m) => m[2]!.split('\n').filter(Boolean));
    assert.ok(samples.length >= 8, 'the doc shows sample text lines');
    const real = text.map(parseTextLine).filter((l): l is Line => l !== undefined);
    for (const sample of samples) {
      const documented = parseTextLine(sample);
      assert.ok(documented, `a sample line in flexd's text format: ${sample}`);
      const candidates = real.filter((l) => l.level === documented.level && l.msg === documented.msg);
      assert.ok(candidates.length > 0, `flexd printed "${documented.msg}" at ${documented.level}: ${sample}`);
      const same = candidates.find((l) => Object.keys(l.fields).sort().join() === Object.keys(documented.fields).sort().join()
        && Object.entries(documented.fields).every(([k, v]) => shape(v, k) === shape(l.fields[k]!, k) || (shape(v, k) === 'word' && shape(l.fields[k]!, k) === 'quoted')));
      assert.ok(same, `a real line with the fields of the sample, each of the same shape:\n  doc:  ${sample}\n  real: ${text.filter((l) => l.includes(` ${documented.msg}`)).join('\n        ')}`);
    }
    const jsonSamples = blocks.filter((b) => b[1] === 'json').flatMap((m) => m[2]!.split('\n').filter(Boolean));
    assert.ok(jsonSamples.length > 0, 'the doc shows sample JSON lines');
    for (const sample of jsonSamples) {
      const documented = JSON.parse(sample) as Record<string, unknown>;
      const same = json.find((l) => l.msg === documented.msg && Object.keys(l).sort().join() === Object.keys(documented).sort().join());
      assert.ok(same, `a real JSON line with the keys of ${sample}`);
    }

    const table = new Map([...section.matchAll(/^\| `([^`]+)`(?: \/ `([^`]+)`)? \| ([a-z ,()]+) \|/gm)].flatMap((m) => [[m[1]!, m[3]!], ...(m[2] ? [[m[2], m[3]!]] : [])] as Array<[string, string]>));
    assert.ok(table.size >= 20, `the doc's table of messages (${table.size} read)`);
    assert.ok(json.length >= 20, `the run printed its lines (${json.length})`);
    for (const l of json) {
      const documented = [...table.entries()].find(([msg]) => msg === l.msg || (msg.endsWith('…') && l.msg.startsWith(msg.slice(0, -1).trimEnd())));
      assert.ok(documented, `"${l.msg}" is in the table of docs/monitoring.md`);
      assert.match(documented[1], new RegExp(`\\b${l.level}\\b`), `"${l.msg}" is documented at level ${l.level}`);
    }
  });
});

test('server log: under flexd serve --log-format json every line on stdout and stderr is one JSON object, through start, a deploy and SIGTERM', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-serve-json-');
  const env = serveEnv();
  delete env.FLEXD_ADMIN_PASSWORD; // so the generated password's line is printed too
  // The installed package's flexd, as an operator runs it (compiled once; no tsx on the way up).
  // A warm npm cache (helpers/npm-cache.ts), as a flexd that has built before has: the install is real, its packages local.
  const npmCache = await warmNpmCache(cleanup);
  const served = spawnServe(cleanup, ['--data-dir', dataDir, '--npm-cache-dir', npmCache, '--log-format', 'json'], { bin: await installedFlexdBin(), env });
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
  await withDeadline('flexd to listen', served.url, SERVE_START_TIMEOUT_MS);
  const listening = parsed(served.stdout()).find((l) => l.url && /^flexd listening on /.test(l.msg));
  assert.ok(listening, served.output());
  assert.equal(listening.level, 'info');
  assert.match(listening.time, /^\d{4}-\d{2}-\d{2}T/);
  const admins = parsed(served.stdout()).filter((l) => /created admin/.test(l.msg));
  assert.equal(admins.length, 1, served.stdout());
  const admin = admins[0]!;
  assert.ok(admin.password, 'the generated password is printed once, as a JSON line too');
  const started = parsed(served.stderr()).find((l) => l.msg === 'flexd started');
  assert.equal(started?.url, listening.url);

  // a deploy through the CLI, with its npm install, build and activation lines
  const cli = await flexdCli(await tempDir(cleanup, 'flexd-serve-json-home-'));
  await cli.ok(['login', '--host', listening.url, '--email', admin.email, '--password', admin.password]);
  await cli.ok(['create', 'orders']);
  // The CLI uploads without node_modules: flexd runs npm install (--prefer-offline, from the warm cache).
  await cli.ok(['deploy', ECHO_PROJECT, '--service', 'orders'], { timeoutMs: REGISTRY_DEPLOY_TIMEOUT_MS });
  await waitFor('the deploy finished line', () => parsed(served.stderr()).find((l) => l.msg === 'deploy finished'), { timeoutMs: 30_000 });

  served.child.kill('SIGTERM');
  assert.equal((await withDeadline('flexd to exit', served.exited, 30_000)).code, 0, served.output());
  const out = parsed(served.stdout());
  const err = parsed(served.stderr());
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
