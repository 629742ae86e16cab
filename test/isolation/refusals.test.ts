/**
 * Issue 9, findings 6, 7 and 9: half a TLS configuration, a second flexd on a data dir in use,
 * and requests still running when a stop's grace ends — each gets a clear answer.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRuntime } from '../../src/index.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { SERVE_START_TIMEOUT_MS, serveEnv, spawnServe } from '../helpers/serve.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import { callFunction, deployFixture, PROMPT_MS, startRuntime, waitForProcessGone } from '../lifecycle/helpers.ts';

const SIGTERM_ON_LISTENING = new URL('../helpers/sigterm-on-listening.mjs', import.meta.url).href;

test('refusal: --tls-cert without --tls-key (or the reverse) is a one-line error and a non-zero exit; createRuntime refuses it too', async (t) => {
  const cleanup = cleanupStack(t);
  const dir = await tempDir(cleanup);
  await assert.rejects(createRuntime({ dataDir: join(dir, 'a'), port: 0, tlsCert: join(dir, 'cert.pem') }), /--tls-cert and --tls-key go together: --tls-key is missing/);
  await assert.rejects(createRuntime({ dataDir: join(dir, 'b'), port: 0, tlsKey: join(dir, 'key.pem') }), /--tls-cert is missing/);
  const served = spawnServe(cleanup, ['--data-dir', join(dir, 'c'), '--tls-cert', join(dir, 'cert.pem')], { bin: await installedFlexdBin() });
  const { code } = await withDeadline('flexd serve to exit', served.exited, SERVE_START_TIMEOUT_MS);
  assert.equal(code, 1, served.output());
  const lines = served.output().trim().split('\n');
  assert.equal(lines.length, 1, served.output());
  assert.match(lines[0]!, /^flexd: .*--tls-key is missing/);
  assert.doesNotMatch(served.output(), /listening on https/);
});

test('refusal: a second flexd on a data dir in use fails naming it; after kill -9 of the first, a restart is not blocked, and a SIGTERM sent the moment it says it listens stops it cleanly', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-locked-');
  const rt = await createRuntime({ dataDir, port: 0 });
  await assert.rejects(createRuntime({ dataDir, port: 0 }), (err: Error) => {
    assert.match(err.message, new RegExp(`data dir .*${dataDir.split('/').at(-1)} is in use by another flexd \\(pid ${process.pid}\\)`));
    return true;
  });
  await rt.close();

  const first = spawnServe(cleanup, ['--data-dir', dataDir], { bin: await installedFlexdBin() });
  await withDeadline('the first flexd to listen', first.url, SERVE_START_TIMEOUT_MS);
  const second = spawnServe(cleanup, ['--data-dir', dataDir], { bin: await installedFlexdBin() });
  const { code } = await withDeadline('the second flexd to exit', second.exited, SERVE_START_TIMEOUT_MS);
  assert.equal(code, 1);
  assert.match(second.output(), new RegExp(`^flexd: .*the data dir \\S*${dataDir.split('/').at(-1)} is in use by another flexd \\(pid ${first.child.pid}\\)`));

  first.child.kill('SIGKILL');
  await waitForProcessGone(first.child.pid!, 'the first flexd');
  // The restart is stopped the moment it says it listens, by the fastest process manager there is:
  // a SIGTERM the process sends itself from inside that line's write (sigterm-on-listening.mjs).
  // Its handler must be in place by then: a drain and exit 0, not death by the signal (it died in
  // about half the tries of a SIGTERM sent on reading the line when "listening" was printed first).
  const third = spawnServe(cleanup, ['--data-dir', dataDir], {
    bin: await installedFlexdBin(), env: serveEnv({ NODE_OPTIONS: `--import=${SIGTERM_ON_LISTENING}` }),
  });
  const stopped = await withDeadline('the restarted flexd to stop', third.exited, SERVE_START_TIMEOUT_MS);
  assert.match(third.stderr(), /sigterm-on-listening: SIGTERM sent/, third.output());
  assert.deepEqual(stopped, { code: 0, signal: null }, third.output());
  assert.match(third.stdout(), /flexd listening on http/, 'the restart after kill -9 came up');
  assert.match(third.stderr(), /SIGTERM received, draining/);
});

test('refusal: SIGTERM with a request in flight past the stop grace answers it 503 ServiceUnavailable before the connection closes', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-stop-');
  const target = { service: 'held', environment: 'Production' };
  {
    const setup = cleanupStack({ after: () => {} });
    const h = await startRuntime(setup, {}, dataDir);
    await deployFixture(h, setup, 'versioned', '1.0.0', target);
    await setup.run();
  }
  const served = spawnServe(cleanup, ['--data-dir', dataDir, '--stop-grace-ms', '1000'], { bin: await installedFlexdBin() });
  const url = await withDeadline('flexd to listen', served.url, SERVE_START_TIMEOUT_MS);
  const base = `${url}/flex/${target.service}/${target.environment}`;
  assert.equal((await callFunction(base, 'whoami')).status, 200);
  const held = callFunction(base, 'hold', {}, { timeoutMs: 20_000 });
  // The request is in the replica's hands once it counts it.
  await waitFor('the held request in the replica\'s hands', async () => (await callFunction(base, 'inflight', {}, { timeoutMs: PROMPT_MS })).answer?.open === 1);
  served.child.kill('SIGTERM');
  const res = await withDeadline('the held request to be answered', held, 15_000);
  assert.equal(res.status, 503, res.text);
  assert.equal(res.json?.error, 'ServiceUnavailable');
  assert.equal((await withDeadline('flexd to exit', served.exited, 15_000)).code, 0);
});
