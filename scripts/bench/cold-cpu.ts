/**
 * Cold starts measured in CPU as well as wall time (a loaded machine moves CPU time least):
 * `npx tsx scripts/bench/cold-cpu.ts [count] [settings JSON]`. One runtime in this process, the
 * bench service deployed with idleTimeoutMs 200; each round waits for zero replicas (and, with
 * spares on, a booted spare), sends one request and reads the answering replica's CPU (user + sys
 * from /proc) at the answer, less what it had spent before the request (a spare's boot).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '../../src/runtime.ts';
import { FIXTURE_DIR, cpuMsOf, loadAverage, median, sleep, until } from './lib.ts';
import { PING, SECRET } from './requests.ts';

const count = Number(process.argv[2] ?? 10);
const settings = JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>;
const dataDir = mkdtempSync(join(tmpdir(), 'flexd-cold-cpu-'));
const rt = await createRuntime({ dataDir, port: 0, memoryCheckIntervalMs: 50, idleTimeoutMs: 200, ...settings });
try {
  const target = { service: 'cold', environment: 'Development' };
  await rt.deployDirectory(FIXTURE_DIR, { ...target, secret: SECRET });
  const env = await rt.context.store.services.findEnvironment((await rt.context.store.services.findService('cold'))!.id, 'Development');
  const pool = rt.context.supervisor.pool(env!.id)!;
  const wall: number[] = [];
  const cpu: number[] = [];
  const loads: number[] = [];
  const spareKb: number[] = [];
  for (let i = 0; i < count; i++) {
    await until('zero replicas', () => pool.replicaCount === 0, 20_000);
    await until('a booted spare (spares on)', () => ['booted', 'off'].includes(pool.spareState.state), 20_000);
    await sleep(100);
    const spare = pool.spareState.pid;
    const before = spare === undefined ? 0 : cpuMsOf(spare);
    if (spare !== undefined) spareKb.push(privateKb(spare));
    loads.push(loadAverage());
    const t0 = performance.now();
    const res = await fetch(`${rt.url}/flex/cold/Development${PING.path}`, { method: PING.method, headers: PING.headers, body: PING.body });
    await res.text();
    wall.push(performance.now() - t0);
    const pid = pool.describe()[0]!.pid!;
    cpu.push(cpuMsOf(pid) - (pid === spare ? before : 0));
    if (res.status !== 200) throw new Error(`answered ${res.status}`);
  }
  const f = (xs: number[]) => `median ${median(xs).toFixed(0)} (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  console.log(`${JSON.stringify(settings)}: wall ${f(wall)} ms; replica CPU after the request ${f(cpu)} ms; load ${median(loads).toFixed(2)}`
    + (spareKb.length > 0 ? `; a booted spare's private memory ${f(spareKb.map((kb) => kb / 1024))} MiB` : ''));
} finally {
  await rt.close();
  rmSync(dataDir, { recursive: true, force: true });
}

/** Private_Clean + Private_Dirty of a process, in kB (its own memory; Node's code is shared through the page cache). */
function privateKb(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return [...rollup.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}
