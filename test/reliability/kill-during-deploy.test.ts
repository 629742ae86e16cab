/**
 * RELIABILITY.md F1: `kill -9` of the runtime at a random point of a deploy. The runtime runs
 * in a process of its own (deploying-runtime.mjs, the compiled package's createRuntime + deployDirectory, reporting
 * each step); the test kills it at a seeded random point after each step, restarts
 * flexd on the same data dir in-process, and checks what survived. A version the killed deploy
 * did not finish is deployed again by the next round: it must still be deployable.
 *
 * One round per step a kill is anchored to, in order, so every phase of a deploy is hit in
 * every run; how far after the step the kill lands is what the seed chooses. That distance is
 * CPU time of the victim and its children (its replicas), not wall time: on a machine at load 20
 * a wall-clock delay lands earlier in the work than on an idle one, a CPU budget at the same point.
 *
 * Repeat a failing run with its seed: FLEXD_F1_SEED=<seed> node scripts/test.mjs test/reliability/kill-during-deploy.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseStat } from '../../src/procfs.ts';
import { cleanupStack, CleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { packedFlexd } from '../helpers/packed.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';
import {
  childrenOf, deployFixture, DEPLOY_TIMEOUT_MS, FAST, fixtureCopy, REPO_DIR, signal, startRuntime, waitForProcessGone, whoami,
} from '../lifecycle/helpers.ts';
import { buildDirs, seededRandom } from './helpers.ts';

const SEED = Number(process.env.FLEXD_F1_SEED ?? 0xf1);
const VICTIM = join(REPO_DIR, 'test', 'reliability', 'deploying-runtime.mjs');
/** flexd starts, then the active version is restored: allow for a loaded box. */
const VICTIM_READY_TIMEOUT_MS = 30_000;
/**
 * The replicas of a killed runtime notice the closed IPC channel at once (F15) and exit; a
 * deadline for a hang, not a measure of "at once" (an exit takes seconds on a stalled machine).
 */
const ORPHAN_GRACE_MS = 20_000;
/**
 * The steps a kill is anchored to (matched by their text: the status printed is the row's when
 * the victim read it), and how much CPU the victim's process tree spends after the step before
 * the kill (uniform in [0, KILL_SPREAD_CPU_MS)). Packing the project and its resolved packages
 * takes a few hundred milliseconds of CPU and so does a replica start, so together they reach
 * every phase: unpack and checks, packing, the version row written, replicas starting, the swap,
 * and after the acknowledgement.
 */
const ANCHORS = [/^deploying /, /^progress \S+ Dependencies already installed/, /^progress \S+ Built version /, /^progress COMPLETED /] as const;
const KILL_SPREAD_CPU_MS = 400;
const ROUNDS = ANCHORS.length;
const target = { service: 'phoenix', environment: 'Production' };

interface Victim {
  pid: number;
  lines: string[];
  /** Resolves with the first line matching `re` (or rejects when the process exits first). */
  line(re: RegExp): Promise<string>;
  exited: Promise<unknown>;
}

/** The compiled package's entry (helpers/packed.ts): the victims start without tsx. */
async function flexdEntry(): Promise<string> {
  return join((await packedFlexd()).nodeModules, 'flexd', 'dist', 'index.js');
}

/** CPU time (user + system) of `pid` and every process below it, in ms (clock ticks of 10 ms). */
async function treeCpuMs(pid: number): Promise<number> {
  let ticks = 0;
  try {
    const fields = parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    for (const task of await readdir(`/proc/${pid}/task`)) {
      const children = (await readFile(`/proc/${pid}/task/${task}/children`, 'utf8')).trim();
      for (const child of children ? children.split(' ') : []) ticks += (await treeCpuMs(Number(child))) / 10;
    }
  } catch { /* gone meanwhile */ }
  return ticks * 10;
}

function startVictim(cleanup: CleanupContext, flexd: string, dataDir: string, projectDir: string, version: string): Victim {
  // The test runner's variables must not reach the child (NODE_TEST_CONTEXT makes it report to our runner).
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [VICTIM, flexd, JSON.stringify(FAST), dataDir, projectDir, target.service, target.environment, version], {
    cwd: REPO_DIR, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanup.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  const waiting = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  let stderr = '';
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      for (const w of waiting) if (w.re.test(l)) { waiting.delete(w); w.resolve(l); }
    }
  });
  return {
    pid: child.pid!,
    lines,
    exited,
    line: (re) => new Promise((resolve, reject) => {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return resolve(seen);
      waiting.add({ re, resolve });
      void exited.then(() => reject(new Error(`the runtime process exited before a line matching ${re}:\n${lines.join('\n')}\n${stderr}`)));
    }),
  };
}

test(`F1: kill -9 at a seeded random point (in CPU time) after each step of a deploy (seed ${SEED}, ${ROUNDS} rounds) leaves an intact database, the old or the new version whole and serving, unfinished jobs in ERROR, no acknowledged deploy lost and no process behind`, async (t) => {
  const suite = cleanupStack(t);
  const random = seededRandom(SEED);
  const dataDir = await tempDir(suite, 'flexd-f1-');
  /** The newest deploy job before a round: a kill before the round's job row is written leaves it the newest. */
  let lastJobId = '';
  {
    const setup = new CleanupStack();
    try {
      const h = await startRuntime(setup, {}, dataDir);
      await deployFixture(h, setup, 'versioned', '1.0.0', target);
      lastJobId = (await h.rt.context.store.jobs.latest(h.environmentId(target.service, target.environment), 'deployService'))!.id;
    } finally {
      await setup.run();
    }
  }

  let serving = '1.0.0';
  let next = 2;
  for (let round = 1; round <= ROUNDS; round++) {
    const cleanup = new CleanupStack();
    try {
      const version = `${next}.0.0`;
      const anchor = ANCHORS[round - 1]!;
      const delayCpuMs = Math.floor(random() * KILL_SPREAD_CPU_MS);
      const victim = startVictim(cleanup, await flexdEntry(), dataDir, fixtureCopy(cleanup, 'versioned', version), version);
      await withDeadline(`round ${round}: the runtime process to restore and start deploying`, victim.line(/^deploying /), VICTIM_READY_TIMEOUT_MS);
      // The anchor may never come (a kill after COMPLETED when the deploy failed): the end of the deploy stands in for it.
      await withDeadline(`round ${round}: the deploy to reach ${anchor}`,
        Promise.race([victim.line(anchor), victim.line(/^(completed|failed) /)]), DEPLOY_TIMEOUT_MS);
      // The fault itself: SIGKILL once the victim's processes spent `delayCpuMs` of CPU after the
      // step, or at the deploy's end (after it the victim idles: nothing more to spend).
      const cpuAtAnchor = await treeCpuMs(victim.pid);
      await waitFor(`round ${round}: ${delayCpuMs} ms of the victim's CPU after ${anchor}`, async () =>
        victim.lines.some((l) => /^(completed|failed) /.test(l)) || (await treeCpuMs(victim.pid)) - cpuAtAnchor >= delayCpuMs,
      { timeoutMs: DEPLOY_TIMEOUT_MS, intervalMs: 5 });
      // Frozen first, so the process list read next holds every child it ever started.
      signal(victim.pid, 'SIGSTOP');
      const children = await childrenOf(victim.pid);
      signal(victim.pid, 'SIGKILL');
      await victim.exited;
      const seen = [...victim.lines];
      const acknowledged = seen.some((l) => /^(progress COMPLETED|completed) /.test(l));
      assert.ok(!seen.some((l) => l.startsWith('failed ')), `round ${round}: the deploy of ${version} failed on its own:\n${seen.join('\n')}`);
      const lastStep = seen.filter((l) => l.startsWith('progress ')).at(-1) ?? '(before the first progress update)';
      t.diagnostic(`round ${round}: ${version}, killed after ${delayCpuMs} ms of CPU after ${anchor} — last step seen: ${lastStep}`);

      for (const pid of children) await waitForProcessGone(pid, `round ${round}: a child process of the killed runtime`, ORPHAN_GRACE_MS);

      const h = await startRuntime(cleanup, {}, dataDir);
      const { store } = h.rt.context;
      assert.equal(await store.integrityCheck(), 'ok', `round ${round}: PRAGMA integrity_check`);
      const envId = h.environmentId(target.service, target.environment);
      const job = (await store.jobs.latest(envId, 'deployService'))!;
      const active = (await store.versions.get((await store.services.getEnvironment(envId))!.activeVersionId!))!;
      assert.ok([serving, version].includes(active.version), `round ${round}: active version ${active.version} is ${serving} or ${version}`);
      const recorded = job.id !== lastJobId;
      lastJobId = job.id;
      if (!recorded) {
        // Killed before the deploy's job was written: nothing of it may be there.
        assert.ok(!acknowledged, `round ${round}: an acknowledged deploy has its job`);
        assert.equal(active.version, serving, `round ${round}: a deploy killed before its job exists changes nothing`);
      } else if (acknowledged) {
        assert.equal(job.status, 'COMPLETED', `round ${round}: an acknowledged deploy stays COMPLETED`);
        assert.equal(active.version, version, `round ${round}: an acknowledged deploy is never lost`);
      } else {
        assert.ok(['COMPLETED', 'ERROR'].includes(job.status), `round ${round}: the interrupted job reads ${job.status}:\n${job.progress}`);
      }
      if (recorded && job.status === 'COMPLETED') assert.equal(active.version, version, `round ${round}: a COMPLETED job's version is the active one`);
      if (recorded && job.status === 'ERROR') assert.match(job.progress, /flexd stopped before this job finished/);
      if (active.version !== version) {
        assert.equal((await store.versions.find(envId, version)), undefined, `round ${round}: no version row left for the interrupted ${version}`);
      }
      assert.deepEqual(buildDirs(dataDir), [], `round ${round}: no build folder left`);

      const answer = await whoami(h.base(target.service, target.environment), `round ${round}: whoami after the restart`);
      assert.equal(answer.version, active.version, `round ${round}: the active version's artifact unpacks and serves`);

      await h.close();
      await waitForProcessGone(answer.pid, `round ${round}: the restarted runtime's replica`);
      if (active.version === version) {
        serving = version;
        next++;
      }
      // Otherwise the next round deploys the same version again: the interrupted deploy must be retryable.
    } finally {
      await cleanup.run();
    }
  }
});
