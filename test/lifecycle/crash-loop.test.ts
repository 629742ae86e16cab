/**
 * RELIABILITY.md F9: a version that starts, reports ready, and crashes soon after, again and
 * again. Each restart waits longer than the one before; past the crash budget the environment
 * is suspended (503 with Retry-After, status ERROR, no replica left running, no more restarts)
 * until a recycle or a deploy brings it back. The suspension is one line of the server log, in
 * JSON and in text.
 */
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CleanupStack } from '../helpers/cleanup.ts';
import { serverLogLine, serverLogRecorder } from '../helpers/server-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, deployFixture, logLines, PROMPT_MS, signal, startRuntime, whoami, type Harness } from './helpers.ts';

const CRASH_BUDGET = 4;
const CRASH_WINDOW_MS = 60_000;
const BACKOFF_BASE_MS = 20;
const RETRY_AFTER_SECONDS = 7;
// Its crash switch is a file outside its project (CRASH_MARKER): Node's permission model would refuse the read.
const target = { service: 'flaky', environment: 'Development', settings: { permissionModel: false } };

describe('a version that crashes soon after it is ready', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let h: Harness;
  let marker: string;
  let base: string;
  const serverLog = serverLogRecorder();

  before(async () => {
    h = await startRuntime(suite, {
      crashBudget: CRASH_BUDGET, crashWindowMs: CRASH_WINDOW_MS, restartBackoffBaseMs: BACKOFF_BASE_MS, restartBackoffMaxMs: 10_000,
      retryAfterSeconds: RETRY_AFTER_SECONDS, logger: serverLog.logger,
    });
    const markerDir = await tempDir(suite, 'flexd-crash-marker-');
    // Replicas of a root flexd run as an unprivileged account: it must see the marker.
    chmodSync(markerDir, 0o755);
    marker = join(markerDir, 'crash');
    base = h.base(target.service, target.environment);
  });

  /** Restart delays the pool announced, in order, from its log. */
  const restartDelays = async () => (await logLines(h, target.service, target.environment))
    .map((l) => /restarting in (\d+) ms/.exec(l.message)?.[1]).filter((d) => d !== undefined).map(Number);

  async function assertSuspended(label: string): Promise<void> {
    const pool = h.pool(target.service, target.environment);
    // Five cold starts and crashes: seconds each at load 20. Past the crash window they would no longer suspend it anyway.
    await waitFor(`${label}: the environment to be suspended`, () => pool.suspension !== null, { timeoutMs: CRASH_WINDOW_MS });
    for (let i = 0; i < 5; i++) {
      const res = await withDeadline(`${label}: a request to the suspended environment`, callFunction(base, 'whoami'), PROMPT_MS);
      assert.equal(res.status, 503, res.text);
      assert.equal(res.json?.error, 'ServiceSuspended');
      assert.equal(res.headers['retry-after'], String(RETRY_AFTER_SECONDS));
    }
    assert.match((await h.rt.context.store.services.getEnvironment(h.environmentId(target.service, target.environment)))!.suspendedReason ?? '',
      new RegExp(`more than ${CRASH_BUDGET} crashes`), 'the stored status says why (status ERROR)');
    const health = await withDeadline(`${label}: /healthcheck of the suspended environment`, fetch(`${base}/healthcheck`), PROMPT_MS);
    assert.equal(health.status, 503, 'the healthcheck answers as the other routes');
    assert.equal((await health.json() as { error: string }).error, 'ServiceSuspended');
    assert.equal(pool.replicaCount, 0, 'no replica runs while suspended, and the requests started none');
  }

  test('F9: each restart waits longer than the one before, and past the crash budget the environment answers 503 with Retry-After, stays stopped and says so in the server log', async () => {
    writeFileSync(marker, '');
    await deployFixture(h, suite, 'crashes-after-ready', '1.0.0', { ...target, env: { CRASH_MARKER: marker } });
    await assertSuspended('after the crash loop');
    const delays = await restartDelays();
    assert.equal(delays.length, CRASH_BUDGET, `one announced restart per crash within the budget: ${delays}`);
    assert.equal(delays[0], 0, 'the first restart is immediate');
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! > delays[i - 1]!, `restart ${i + 1} waits longer than restart ${i}: ${delays}`);
    assert.ok((await logLines(h, target.service, target.environment)).some((l) => /environment suspended: more than 4 crashes/.test(l.message)));
    const suspended = await serverLogLine(serverLog, 'environment suspended', { service: target.service, environment: target.environment, level: 'error' });
    assert.match(suspended.reason, new RegExp(`more than ${CRASH_BUDGET} crashes`));
  });

  test('F9: a recycle restarts a suspended environment once its cause is gone', async () => {
    rmSync(marker);
    const svc = (await h.rt.context.store.services.findService(target.service))!;
    const job = await h.rt.context.deployer.recycle(svc.id, h.environmentId(target.service, target.environment), null);
    const done = await withDeadline('the recycle job', h.rt.context.deployer.jobs.wait(job.id), 30_000);
    assert.equal(done.status, 'COMPLETED', done.progress);
    assert.equal(h.pool(target.service, target.environment).suspension, null);
    assert.equal((await h.rt.context.store.services.getEnvironment(h.environmentId(target.service, target.environment)))!.suspendedReason, null);
    const first = await whoami(base, 'whoami after the recycle');
    assert.equal((await whoami(base, 'whoami again')).pid, first.pid, 'the replica stays up');
  });

  test('F9: a deploy restarts a suspended environment', async () => {
    // Suspend it again: the marker is back, so each replacement of a killed replica crashes.
    writeFileSync(marker, '');
    const { pid } = await whoami(base, 'whoami before the kill');
    signal(pid, 'SIGKILL');
    await assertSuspended('after the second crash loop');
    await deployFixture(h, suite, 'versioned', '2.0.0', target);
    const res = await callFunction(base, 'whoami');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.version, '2.0.0');
    assert.equal(h.pool(target.service, target.environment).suspension, null);
  });
});
