/**
 * RELIABILITY.md L5: 50 environments deployed and idle. Their memory — the runtime's resident
 * set plus every replica's — stays within the budget docs/configuration.md states ("Memory
 * budget"; the test runner's own share of this process is not counted); restarted with a short `idleTimeoutMs`, flexd brings all 50 back, evicts each once
 * idle until no replica process is left, and an evicted environment answers its next request.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'node:test';
import { cleanupStack, CleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { MiB, rssBytes } from './helpers.ts';
// npm test: own process (it counts this process's resident memory as the runtime's).

/**
 * The runtime shares this process with the test runner: tsx's loader thread and node:test. What
 * they hold beyond a bare Node's resident set, measured before flexd is loaded, is not the
 * runtime's (flexd's own code, loaded below through tsx, counts).
 */
const TEST_RUNNER_BYTES = process.memoryUsage.rss()
  - Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.memoryUsage.rss()))'], { env: {} }));
const { deployFixture, logLines, replicaProcessesOf, startRuntime, whoami } = await import('../lifecycle/helpers.ts');

const ENVIRONMENTS = 50;
/** Deploys at once: packing and starting are CPU-bound, so more than the 2 cores of CI buys nothing. */
const DEPLOY_CONCURRENCY = 3;
/**
 * The budget docs/configuration.md states: an idle environment (one replica of a small service)
 * under 100 MiB, the runtime under 350 MiB. Measured: about 55–60 MiB a replica; the runtime
 * 230–290 MiB right after the 50 deploys (load 7–13; more deploys in flight on a busier machine
 * leave more memory with the allocator), flexd's code loaded through tsx counted.
 */
const REPLICA_BUDGET_BYTES = 100 * MiB;
const RUNTIME_BUDGET_BYTES = 350 * MiB;
const IDLE_TIMEOUT_MS = 1_000;
/**
 * Restoring 50 environments starts 50 replicas, four at a time: ~10 s on a loaded 2-core box, 35 s at
 * load 18 (2026-12-08); then the idle timeout. A hang-catcher: twice what load 18 took, and more.
 */
const ALL_EVICTED_TIMEOUT_MS = 120_000;
const service = (i: number) => `idle-${String(i).padStart(2, '0')}`;
const environment = 'Production';

test(`L5: ${ENVIRONMENTS} idle environments stay within the memory budget, and with a short idleTimeoutMs all are evicted to zero replica processes and answer again on the next request`, async (t) => {
  const suite = cleanupStack(t);
  const dataDir = await tempDir(suite, 'flexd-l5-');
  const startedAt = Date.now();
  const pids: number[] = [];
  {
    const cleanup = new CleanupStack();
    try {
      const h = await startRuntime(cleanup, { idleTimeoutMs: 0, memoryCheckIntervalMs: 1_000, livenessIntervalMs: 5_000 }, dataDir);
      const queue = Array.from({ length: ENVIRONMENTS }, (_, i) => i);
      await Promise.all(Array.from({ length: DEPLOY_CONCURRENCY }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) await deployFixture(h, cleanup, 'versioned', '1.0.0', { service: service(i), environment });
      }));
      const deployedMs = Date.now() - startedAt;
      for (let i = 0; i < ENVIRONMENTS; i++) {
        const replicas = h.pool(service(i), environment).describe();
        assert.equal(replicas.length, 1, `${service(i)} runs one replica`);
        pids.push(replicas[0]!.pid!);
      }
      const replicaBytes = pids.map(rssBytes);
      assert.ok(replicaBytes.every((b) => b > 0), 'every replica is alive');
      // The runtime idle, as V8's memory reducer leaves an idle process within seconds: what the
      // 50 deploys left as garbage is collected first (the replicas are measured as they are).
      t.diagnostic(`the runtime's resident set right after the deploys: ${residentSet()}`);
      collectGarbage();
      const runtimeBytes = process.memoryUsage.rss() - TEST_RUNNER_BYTES;
      t.diagnostic(`the runtime's resident set, garbage collected: ${residentSet()}; the test runner's own share ${Math.round(TEST_RUNNER_BYTES / MiB)} MiB`);
      const totalBytes = runtimeBytes + replicaBytes.reduce((a, b) => a + b, 0);
      const budget = RUNTIME_BUDGET_BYTES + ENVIRONMENTS * REPLICA_BUDGET_BYTES;
      const mib = (b: number) => `${Math.round(b / MiB)} MiB`;
      t.diagnostic(`${ENVIRONMENTS} environments deployed in ${deployedMs} ms; memory: runtime ${mib(runtimeBytes)}, replicas ${mib(totalBytes - runtimeBytes)} `
        + `(${mib(Math.min(...replicaBytes))}–${mib(Math.max(...replicaBytes))} each, mean ${mib((totalBytes - runtimeBytes) / ENVIRONMENTS)}), total ${mib(totalBytes)} of a ${mib(budget)} budget`);
      assert.ok(runtimeBytes <= RUNTIME_BUDGET_BYTES, `the runtime's ${mib(runtimeBytes)} is within ${mib(RUNTIME_BUDGET_BYTES)}`);
      assert.ok(Math.max(...replicaBytes) <= REPLICA_BUDGET_BYTES, `each idle replica is within ${mib(REPLICA_BUDGET_BYTES)}`);
      assert.ok(totalBytes <= budget, `the total ${mib(totalBytes)} is within ${mib(budget)}`);
    } finally {
      await cleanup.run();
    }
  }

  const restartAt = Date.now();
  const h = await startRuntime(suite, { idleTimeoutMs: IDLE_TIMEOUT_MS, memoryCheckIntervalMs: 100 }, dataDir);
  const restoredMs = Date.now() - restartAt;
  await waitFor(`all ${ENVIRONMENTS} environments to be evicted to zero replicas`, async () =>
    Array.from({ length: ENVIRONMENTS }, (_, i) => h.pool(service(i), environment)).every((p) => p.replicaCount === 0)
      && (await replicaProcessesOf(process.pid)).length === 0, { timeoutMs: ALL_EVICTED_TIMEOUT_MS, intervalMs: 100 });
  const evictedAt = Date.now();
  t.diagnostic(`restart restored ${ENVIRONMENTS} environments in ${restoredMs} ms; all evicted ${evictedAt - restartAt} ms after the restart`);

  for (const i of [0, Math.floor(ENVIRONMENTS / 2), ENVIRONMENTS - 1]) {
    const answer = await whoami(h.base(service(i), environment), `whoami on evicted ${service(i)}`, { timeoutMs: 15_000 });
    assert.equal(answer.version, '1.0.0');
    // Started by this request: a cold start logged after every replica was gone (restored replicas
    // are not cold starts, and a new pid alone would prove nothing: the restart changed them all).
    await waitFor(`${service(i)}'s cold start after the eviction`, async () => (await logLines(h, service(i), environment))
      .some((l) => /cold start: replica ready in \d+ ms/.test(l.message) && Date.parse(l.timestamp) >= evictedAt), { timeoutMs: 15_000 });
  }
});

/** This process's resident set by kind (anonymous, file-backed, shared memory, from /proc) and its heap. */
function residentSet(): string {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kinds = ['RssAnon', 'RssFile', 'RssShmem'].map((k) => `${k} ${Math.round(Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024)} MiB`);
  const m = process.memoryUsage();
  return `${Math.round(m.rss / MiB)} MiB (${kinds.join(', ')}); heap ${Math.round(m.heapUsed / MiB)} of ${Math.round(m.heapTotal / MiB)} MiB, external ${Math.round(m.external / MiB)} MiB`;
}

/** A full garbage collection of this isolate (the test process is not started with --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
