import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { endBuild, nextBuildIdentity, prepareBuildBox, releaseBuildBox } from '../../src/deploy/box.ts';
import { buildUids, runsAsRoot } from '../../src/isolation/accounts.ts';
import { parseStat } from '../../src/procfs.ts';
import { createRuntime } from '../../src/runtime.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { SERVE_START_TIMEOUT_MS, spawnServe } from '../helpers/serve.ts';
import { installedFlexdBin } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { waitFor, withDeadline } from '../helpers/wait.ts';

test('uid ranges: two root-run flexd runtimes on one host never share a uid range; an explicit range another holds is refused', { skip: !runsAsRoot() && 'needs root' }, async (t) => {
  // A stack: each runtime closes before its data dir goes (t.after would run them in the order registered).
  const cleanup = cleanupStack(t);
  const start = 3_000_000 + Math.floor(Math.random() * 1_000) * 100;
  const a = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-range-a-'), port: 0, uidRangeStart: start, uidRangeSize: 100 });
  cleanup.after(() => a.close());
  // The same explicit range: refused, naming it.
  await assert.rejects(createRuntime({ dataDir: await tempDir(cleanup, 'flexd-range-b-'), port: 0, uidRangeStart: start, uidRangeSize: 100 }),
    (err: Error & { code?: string }) => err.code === 'UidRangeInUse' && err.message.includes(String(start)));
  // The default range moves up past any range already held.
  const b = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-range-c-'), port: 0 });
  cleanup.after(() => b.close());
  const c = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-range-d-'), port: 0 });
  cleanup.after(() => c.close());
  const rangeB = b.context.settings.uidRangeStart;
  const rangeC = c.context.settings.uidRangeStart;
  assert.notEqual(rangeB, rangeC);
  assert.equal(Math.abs(rangeB - rangeC) % b.context.settings.uidRangeSize, 0);
});

test('uid ranges: a range overlapping another flexd\'s is refused whatever its start, in one line; an adjacent one is not; a killed flexd\'s range is free again', { skip: !runsAsRoot() && 'needs root' }, async (t) => {
  const cleanup = cleanupStack(t);
  const size = 65_536;
  const base = 5_000_000 + Math.floor(Math.random() * 1_000) * 200_000;
  // The holder is a real `flexd serve`, so it can die by SIGKILL.
  const holder = spawnServe(cleanup, ['--data-dir', await tempDir(cleanup, 'flexd-overlap-a-'), '--uid-range-start', String(base), '--uid-range-size', String(size)], { bin: await installedFlexdBin() });
  await withDeadline('the holder to listen', holder.url, SERVE_START_TIMEOUT_MS);

  // Starts that differ from the holder's: above it, below it, inside it, around it.
  for (const [start, rangeSize] of [[base + 1_000, size], [base - 1_000, size], [base + 100, 10], [base - 10, size * 2]] as const) {
    await assert.rejects(createRuntime({ dataDir: await tempDir(cleanup, 'flexd-overlap-b-'), port: 0, uidRangeStart: start, uidRangeSize: rangeSize }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'UidRangeInUse');
        assert.ok(err.message.includes(`${start}–${start + rangeSize - 1}`) && err.message.includes(`${base}–${base + size - 1}`), err.message);
        assert.ok(!err.message.includes('\n'), 'one line');
        return true;
      }, `${start}+${rangeSize} overlaps ${base}+${size}`);
  }
  // `flexd serve` says it in one line and exits 1.
  const refused = spawnServe(cleanup, ['--data-dir', await tempDir(cleanup, 'flexd-overlap-c-'), '--uid-range-start', String(base + 1_000), '--uid-range-size', String(size)], { bin: await installedFlexdBin() });
  const exit = await withDeadline('the overlapping serve to exit', refused.exited, SERVE_START_TIMEOUT_MS);
  assert.equal(exit.code, 1);
  assert.deepEqual(refused.stderrLines().filter((l) => /uid range/.test(l)).length, 1, refused.output());
  assert.match(refused.output(), /overlaps the range/);

  // Right after the holder's last uid: nothing shared, accepted.
  const adjacent = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-overlap-d-'), port: 0, uidRangeStart: base + size, uidRangeSize: size });
  cleanup.after(() => adjacent.close());
  assert.equal(adjacent.context.settings.uidRangeStart, base + size);

  // The holder dies by SIGKILL: its claim goes with it; the range below it (overlapping only it) is taken.
  holder.child.kill('SIGKILL');
  await withDeadline('the holder to die', holder.exited, 15_000);
  const below = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-overlap-e-'), port: 0, uidRangeStart: base - 1_000, uidRangeSize: size });
  cleanup.after(() => below.close());
  assert.equal(below.context.settings.uidRangeStart, base - 1_000);
  // ... while the adjacent one still holds its own.
  await assert.rejects(createRuntime({ dataDir: await tempDir(cleanup, 'flexd-overlap-f-'), port: 0, uidRangeStart: base + size + 5, uidRangeSize: 10 }),
    (err: Error & { code?: string }) => err.code === 'UidRangeInUse');
});

test('uid ranges: a stopping flexd has ended what its builds left running when its close() returns, and once it has given the range back kills nothing under those uids', { skip: !runsAsRoot() && 'needs root' }, async (t) => {
  const cleanup = cleanupStack(t);
  const size = 1_000;
  const start = 7_000_000 + Math.floor(Math.random() * 1_000) * size;
  const { first } = buildUids({ uidRangeStart: start, uidRangeSize: size });
  /** A process running as `uid` (a build's leftover, or later another flexd's build). */
  const asUid = (uid: number) => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { uid, gid: uid, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    cleanup.after(async () => { child.kill('SIGKILL'); await exited; });
    return { child, exited };
  };

  const rt = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-release-'), port: 0, uidRangeStart: start, uidRangeSize: size });
  const leftover = asUid(first);
  await waitFor('the leftover to run as the build uid', () => (uidOf(leftover.child.pid!) === first ? true : undefined), { timeoutMs: 15_000 });
  await rt.close();
  // Ended by the stop itself: killed by the time close() returns — looked at before this process
  // turns its event loop again (the exit is reported a moment later); nothing else would end it
  // before the test's cleanup. (That the kill comes before the range is given back, inside
  // close(), is the order of src/runtime.ts's stop; it is not observable from outside the process.)
  assert.equal(killedOrGone(leftover.child.pid!), true, `the leftover (pid ${leftover.child.pid}) was killed before close() returned`);
  assert.equal(await withDeadline('the leftover to be ended', leftover.exited, 30_000), 'SIGKILL');

  // A box stopped the way close() stops one (its one sweep made while the range is still its
  // own); then the range is free, a new flexd takes it, and its build uid runs a process.
  const stopped = prepareBuildBox(await tempDir(cleanup, 'flexd-release-box-'), rt.context.settings);
  releaseBuildBox(stopped);
  const next = await createRuntime({ dataDir: await tempDir(cleanup, 'flexd-release-next-'), port: 0, uidRangeStart: start, uidRangeSize: size });
  cleanup.after(() => next.close());
  const theirs = asUid(first);
  await waitFor('their build to run', () => (uidOf(theirs.child.pid!) === first ? true : undefined), { timeoutMs: 15_000 });
  // Released: a late build step of the stopped flexd is refused and its clean-up kills nothing.
  assert.throws(() => nextBuildIdentity(stopped), (err: Error & { code?: string }) => err.code === 'RuntimeClosed');
  assert.equal(endBuild(stopped, { uid: first, gid: first }), 0);
  assert.equal(uidOf(theirs.child.pid!), first, 'the new holder\'s build process still runs');
});

/** include/linux/sched.h: the task is exiting. */
const PF_EXITING = 0x4;
/** signal 9's bit in /proc/<pid>/status's pending masks */
const SIGKILL_BIT = 1n << 8n;

function uidOf(pid: number): number | undefined {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * Killed, in every case the kernel can show it in: gone, a zombie, exiting (PF_EXITING in
 * /proc/<pid>/stat's flags), or with SIGKILL pending (sent, not yet taken).
 */
function killedOrGone(pid: number): boolean {
  try {
    const [state, , , , , , flags] = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    if (state === 'Z' || state === 'X' || (Number(flags) & PF_EXITING) !== 0) return true;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return ['SigPnd', 'ShdPnd'].some((field) => (BigInt(`0x${new RegExp(`^${field}:\\s+([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'}`) & SIGKILL_BIT) !== 0n);
  } catch {
    return true; // gone
  }
}
