/**
 * RELIABILITY.md F13 and F15: the runtime process itself stops — politely (SIGTERM under load)
 * or not (kill -9). These run the real `flexd serve` as a separate process — the installed
 * package's bin (test/helpers/cli.ts), which starts from dist/ instead of compiling the sources
 * through tsx (half a second of CPU less per start) — on a data dir prepared in-process, which
 * `serve` restores on start.
 *
 * `flexd serve` stopping, one file per launcher or signal path: the drain under load (intake
 * stops, requests in flight finish, replicas stop, exit 0) through the installed bin in
 * test/lifecycle/runtime-process.test.ts (F13, the packed tarball's installed bin); `npm start`
 * with the same SIGTERM to npm and to its group at once in test/serve.test.ts; the README's `npx`
 * command, SIGTERM to npx alone and Ctrl-C in test/serve-npx.test.ts; the stop's log lines in
 * JSON in test/ops/server-log.test.ts.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { before, after, describe, test } from 'node:test';
import { CleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { SERVE_START_TIMEOUT_MS, spawnServe } from '../helpers/serve.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import {
  callFunction, childrenOf, COLD_START_MS, deployFixture, keepAliveAgent, killLater, PROMPT_MS, request, signal, startRuntime, waitForProcessGone, whoami,
} from './helpers.ts';

/**
 * The drain's grace: the test releases the held requests after SIGTERM, a check of the refused
 * intake and a log line later, which a machine at load 20 may stretch to seconds. Only a broken
 * drain waits it out (the exit must come within half of it once the requests are answered).
 */
const STOP_GRACE_MS = 30_000;
/** Replicas of a killed runtime go when their IPC channel closes: seconds at most, where an orphan never goes. */
const ORPHAN_GONE_MS = 30_000;
const target = { service: 'durable', environment: 'Production' };
/** Its service starts a helper process of its own: it must not outlive the runtime either. */
const parent = { service: 'parent', environment: 'Production' };

interface Served {
  child: ChildProcess;
  url: string;
  base: string;
  /** stderr lines so far */
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `flexd serve --data-dir … --stop-grace-ms …`, up once it prints its URL; killed by `cleanup` if still running. */
async function serve(cleanup: CleanupContext, dataDir: string): Promise<Served> {
  const served = spawnServe(cleanup, ['--data-dir', dataDir, '--stop-grace-ms', String(STOP_GRACE_MS)], { bin: await installedFlexdBin() });
  const url = await withDeadline('flexd serve to print its URL', served.url, SERVE_START_TIMEOUT_MS);
  return {
    child: served.child, url, base: `${url}/flex/${target.service}/${target.environment}`, exited: served.exited,
    get stderr() { return served.stderrLines(); },
  };
}

/**
 * The pid of the helper process the parent service's replica started. Asserted a number: a failed
 * call would leave it undefined, and "the helper is gone" would then hold for a pid that never was.
 */
async function helperOf(served: Served): Promise<number> {
  const res = await callFunction(`${served.url}/flex/${parent.service}/${parent.environment}`, 'whoami', {}, { timeoutMs: COLD_START_MS });
  assert.equal(res.status, 200, res.text);
  const { helper } = res.answer as { helper?: unknown };
  assert.equal(typeof helper, 'number', `the parent service names its helper process: ${res.text}`);
  return helper as number;
}

describe('the flexd serve process', () => {
  const suite = new CleanupStack();
  after(() => suite.run());
  let dataDir: string;

  before(async () => {
    dataDir = await tempDir(suite, 'flexd-serve-');
    const cleanup = new CleanupStack();
    try {
      const h = await startRuntime(cleanup, {}, dataDir);
      await deployFixture(h, cleanup, 'versioned', '1.0.0', target);
      await deployFixture(h, cleanup, 'spawns-helper', '1.0.0', { ...parent, settings: { permissionModel: false } });
    } finally {
      await cleanup.run();
    }
  });

  test('F13: SIGTERM under load stops intake, lets the requests in flight finish, stops every replica and exits 0', async (t) => {
    const cleanup = new CleanupStack();
    t.after(() => cleanup.run());
    const startAt = Date.now();
    const served = await serve(cleanup, dataDir);
    t.diagnostic(`flexd serve listening after ${Date.now() - startAt} ms`);
    const replicas = await waitFor('both environments\' replicas', async () => {
      const pids = await childrenOf(served.child.pid!);
      return pids.length >= 2 ? pids : undefined;
    }, { timeoutMs: COLD_START_MS });
    const helper = await helperOf(served);
    const IN_FLIGHT = 10;
    const agent = keepAliveAgent(cleanup, IN_FLIGHT + 1);
    const { pid: replica } = await whoami(served.base, 'whoami on the spawned runtime', { timeoutMs: COLD_START_MS });
    // Held until the test sends SIGUSR2 to the replica, after the runtime got its SIGTERM.
    const held = Array.from({ length: IN_FLIGHT }, () => callFunction(served.base, 'hold', {}, { agent, timeoutMs: 20_000 }));
    await waitFor(`${IN_FLIGHT} requests in flight in the replica`, async () => (await callFunction(served.base, 'inflight', {}, { agent })).answer?.open === IN_FLIGHT);

    const termAt = Date.now();
    signal(served.child.pid!, 'SIGTERM');
    await waitFor('flexd to say it is draining', () => served.stderr.some((l) => /SIGTERM received/.test(l)));
    // A fresh connection is refused: intake has stopped.
    await assert.rejects(request(`${served.base}/healthcheck`, { agent: new Agent({ keepAlive: false }), timeoutMs: PROMPT_MS }), /ECONNREFUSED/);

    assert.equal(served.child.exitCode, null, 'flexd waits for the requests in flight');
    signal(replica, 'SIGUSR2');
    const answers = await withDeadline('the requests in flight to finish', Promise.all(held), STOP_GRACE_MS);
    for (const res of answers) assert.equal(res.status, 200, res.text);
    // Once the last request is answered, flexd stops its replicas and exits: within half the grace,
    // where a drain that waited out its grace would take all of it.
    const { code, signal: sig } = await withDeadline('flexd to exit once the requests in flight were answered', served.exited, STOP_GRACE_MS / 2);
    assert.deepEqual({ code, sig }, { code: 0, sig: null }, served.stderr.join('\n'));
    t.diagnostic(`flexd exited ${Date.now() - termAt} ms after SIGTERM`);
    for (const pid of replicas) await waitForProcessGone(pid, 'a replica of the stopped runtime');
    await waitForProcessGone(helper, 'the helper process a replica started');
  });

  test('F15: when the runtime is killed with SIGKILL, its replicas notice the lost IPC channel and exit promptly, not orphaned', async (t) => {
    const cleanup = new CleanupStack();
    t.after(() => cleanup.run());
    const served = await serve(cleanup, dataDir);
    // The restored replicas may still be starting: the first answer may wait for a cold start.
    const { pid } = await whoami(served.base, 'whoami on the spawned runtime', { timeoutMs: COLD_START_MS });
    const helper = await helperOf(served);
    const replicas = await childrenOf(served.child.pid!);
    assert.ok(replicas.includes(pid), `the replica ${pid} is a child of the runtime (${replicas})`);
    assert.ok(replicas.length >= 2, 'both environments run');
    // Should the test fail, nothing it started outlives it.
    const kills = [...replicas, helper].map(killLater);
    cleanup.after(() => { for (const kill of kills) kill(); });

    signal(served.child.pid!, 'SIGKILL');
    await withDeadline('the killed flexd to be reaped', served.exited, PROMPT_MS);
    const killedAt = Date.now();
    // "Promptly": within ORPHAN_GONE_MS, where an orphan would never go.
    for (const r of replicas) await waitForProcessGone(r, 'a replica of the killed runtime', ORPHAN_GONE_MS);
    await waitForProcessGone(helper, 'the helper process a replica started', ORPHAN_GONE_MS);
    t.diagnostic(`replicas gone ${Date.now() - killedAt} ms after the runtime`);
  });
});
