/**
 * flexd's server log (src/events/server-log.ts): one line per event an operator cares about, in
 * both formats (test/helpers/server-log.ts writes each event in JSON and in text). Here, the
 * events of a runtime's own life: start, deploys, swaps, a failed deploy, shutdown and the restore
 * at the next start, and `flexd serve --log-format json`. The events of a replica's or an
 * environment's trouble are checked by the tests that cause them, on the runs they make anyway:
 * a crash and a liveness kill in test/lifecycle/replica-death.test.ts, the memory watchdog in
 * test/lifecycle/memory.test.ts, idling in test/lifecycle/idle-and-scaling.test.ts, suspension in
 * test/lifecycle/crash-loop.test.ts. The stop here is checked for its lines only; the drain itself
 * (requests in flight finish, replicas stop) is test/lifecycle/runtime-process.test.ts F13, and
 * the other launchers' signal paths test/serve.test.ts and test/serve-npx.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { flexdCli, installedFlexdBin } from '../helpers/cli.ts';
import { ECHO_PROJECT } from '../helpers/echo-project.ts';
import { warmNpmCache } from '../helpers/npm-cache.ts';
import { SERVE_START_TIMEOUT_MS, serveEnv, spawnServe } from '../helpers/serve.ts';
import { serverLogLine as line, serverLogRecorder as recorder } from '../helpers/server-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { deployFixture, failedDeploy, startRuntime } from '../lifecycle/helpers.ts';

/** A deploy whose npm install runs for real (what the warm cache lacks comes from the registry), on a loaded machine. */
const REGISTRY_DEPLOY_TIMEOUT_MS = 240_000;

test('server log: start, deploys, a swap, a failed deploy, shutdown and the restore at the next start are one line each, in JSON and in text', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-serverlog-');
  const r = recorder();
  const h = await startRuntime(cleanup, { logger: r.logger }, dataDir);

  const start = await line(r, 'flexd started', { dataDir, environmentsRestored: 0 });
  assert.match(start.version, /^\d+\.\d+\.\d+/);
  assert.match(start.isolation, /root|this user/);

  const orders = { service: 'orders', environment: 'Development' };
  // A variable and a secret, neither of which may reach the server log.
  await deployFixture(h, cleanup, 'versioned', '1.0.0', { ...orders, secret: 'orders-key-d41d8cd9', env: { ORDERS_TOKEN: 'orders-token-8f00b204' } });
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

  // Shutdown, then a start that restores what was deployed.
  await h.close();
  await line(r, 'flexd stopping: draining requests, stopping replicas');
  const stopped = await line(r, 'flexd stopped');
  assert.equal(typeof stopped.durationMs, 'number');

  const again = recorder();
  const h2 = await startRuntime(cleanup, { logger: again.logger }, dataDir);
  await line(again, 'flexd started', { dataDir, environmentsRestored: 1 });
  await h2.close();

  const secrets = JSON.stringify(r.json) + r.text.join('\n');
  assert.doesNotMatch(secrets, /ORDERS_TOKEN|orders-token-8f00b204|orders-key-d41d8cd9|passwordHash|secret/i, 'no variables or secrets in the server log');
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
