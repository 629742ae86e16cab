/**
 * Issue 15, finding 5, another local account squatting flexd's locks: a process of another
 * account (here `nobody`; without root, one of flexd's own account) binds every abstract name a
 * lock of flexd could be guessed to use — the data dir's, the uid range's and the next 64
 * ranges' — before flexd starts. flexd starts anyway, on the uid range it was given, and still
 * refuses a second flexd on its data dir (src/isolation/private-lock.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { listenAbstract } from '../../src/isolation/private-lock.ts';
import { RANGE_TOKEN_FILE } from '../../src/isolation/range-claim.ts';
import { createRuntime } from '../../src/runtime.ts';
import { LOCK_TOKEN_FILE } from '../../src/store/lock.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** A process that listens on every given abstract name; resolves once it does. */
async function squat(cleanup: ReturnType<typeof cleanupStack>, names: string[]): Promise<void> {
  const script = `
    const net = require('net');
    const names = JSON.parse(process.argv[1]);
    let left = names.length;
    for (const name of names) net.createServer((s) => s.end('1\\n')).listen('\\0' + name, () => { if (--left === 0) console.log('squatting'); })
      .on('error', (e) => {
        // Held already (another flexd of the old kind on this host): squatted all the same.
        if (e.code === 'EADDRINUSE' && --left === 0) console.log('squatting');
        else if (e.code !== 'EADDRINUSE') { console.log('could not squat ' + name + ': ' + e.code); process.exit(1); }
      });`;
  const child = spawn(process.execPath, ['-e', script, JSON.stringify(names)], {
    stdio: ['ignore', 'pipe', 'inherit'], ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanup.after(async () => { child.kill('SIGKILL'); await exited; });
  await withDeadline('the squatter to bind', new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => (String(d).includes('squatting') ? resolve() : reject(new Error(String(d)))));
    void exited.then(() => reject(new Error('the squatter exited')));
  }), 15_000);
}

test('a squatted lock name never stops a start nor moves the uid range; a second flexd on the data dir is still refused', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-squat-');
  const start = 2_000_000 + Math.floor(Math.random() * 5_000) * 100;
  const size = 100;
  const real = realpathSync(dataDir);
  const guesses = [
    `flexd-data-dir-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`,
    ...Array.from({ length: 66 }, (_, k) => `flexd-uid-range-${start + k * size}`),
    ...Array.from({ length: 66 }, (_, k) => `flexd-uid-range-${420_000 + k * 10_000}`),
  ];
  await squat(cleanup, guesses);

  const rt = await createRuntime({ dataDir, port: 0, uidRangeStart: start, uidRangeSize: size });
  cleanup.after(() => rt.close());
  assert.equal(rt.context.settings.uidRangeStart, start, 'the range given is the range held');
  const res = await fetch(`${rt.url}/healthz`);
  assert.equal(res.status, 200);

  await assert.rejects(createRuntime({ dataDir, port: 0, uidRangeStart: start + 50 * size, uidRangeSize: size }), (err: Error & { code?: string }) => err.code === 'DataDirInUse');
  if (asRoot) {
    await assert.rejects(createRuntime({ dataDir: await tempDir(cleanup, 'flexd-squat-b-'), port: 0, uidRangeStart: start, uidRangeSize: size }),
      (err: Error & { code?: string }) => err.code === 'UidRangeInUse', 'the range is still exclusive among flexd processes');
  }
  // The secrets the names are made from are flexd's alone.
  assert.equal(statSync(join(dataDir, LOCK_TOKEN_FILE)).mode & 0o777, 0o600);
  if (asRoot) {
    assert.equal(statSync(RANGE_TOKEN_FILE).mode & 0o777, 0o600);
    assert.equal(statSync(join(RANGE_TOKEN_FILE, '..')).mode & 0o077, 0);
  }
});

test('a lock holder outlives a caller that hangs up before the answer (no unheard EPIPE)', async (t) => {
  // Another runtime's sweep of temporary data dirs asks each live lock for its pid and gives up
  // after a moment; on a loaded machine the answer is written after it hung up. That write
  // failed with EPIPE on a socket nobody listened to: an uncaught exception in the embedding
  // process (a team's `node --test` run crashed after all its tests passed).
  const server = await listenAbstract(`flexd-test-hangup-${process.pid}-${Date.now()}`);
  assert.ok(server, 'the name is free');
  t.after(() => server.close());
  const uncaught: unknown[] = [];
  const monitor = (err: unknown) => uncaught.push(err);
  process.on('uncaughtExceptionMonitor', monitor);
  t.after(() => process.off('uncaughtExceptionMonitor', monitor));
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  // The caller connects and exits while this process's event loop is blocked (execFileSync):
  // when flexd accepts the connection and answers, its peer is gone already.
  const address = JSON.stringify(server.address());
  execFileSync(process.execPath, ['-e', `require('net').connect(${address}).on('connect', () => process.exit(0))`], { timeout: 30_000 });
  const [socket] = await withDeadline('the lock to accept the connection', accepted, 15_000);
  if (!socket.closed) await withDeadline('the answered socket to close', once(socket, 'close'), 15_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(uncaught.map(String), []);
});
