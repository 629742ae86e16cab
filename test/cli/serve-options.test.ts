import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type RuntimeOptions } from '../../src/index.ts';
import { serveOptions } from '../../src/cli/serve.ts';

it('serve: flags become runtime options, each also readable from its FLEXD_ variable, flags winning', () => {
  const options = serveOptions(['--port', '0', '--request-timeout-ms', '1500', '--runtime', 'node20=/usr/bin/node'], {
    FLEXD_PORT: '9999', FLEXD_IDLE_TIMEOUT_MS: '0', FLEXD_MEMORY_LIMIT_MB: '128', FLEXD_DATA_DIR: '/srv/flexd',
    FLEXD_ADMIN_EMAIL: 'a@b.c', FLEXD_ADMIN_PASSWORD: 'pw', FLEXD_NPM_CACHE_DIR: '/srv/npm-cache',
  });
  assert.notEqual(options, 'help');
  assert.deepEqual(options, {
    port: 0, requestTimeoutMs: 1500, idleTimeoutMs: 0, memoryLimitMb: 128, dataDir: '/srv/flexd',
    runtimes: { node20: '/usr/bin/node' }, log: 'stderr', adminEmail: 'a@b.c', adminPassword: 'pw', npmCacheDir: '/srv/npm-cache',
  });
});

it('serve: a non-numeric number and an unknown flag are refused with a reason', () => {
  assert.throws(() => serveOptions(['--port', 'eighty'], {}), /--port must be a non-negative number/);
  assert.throws(() => serveOptions(['--no-such-flag'], {}), /Unknown option/);
  assert.throws(() => serveOptions(['--runtime', 'nopath'], {}), /name=\/path\/to\/node/);
  assert.throws(() => serveOptions(['--log-format', 'xml'], {}), /--log-format must be text or json/);
});

it('serve: a stop signal repeated within DUPLICATE_SIGNAL_MS is the same request; a later one, or a second Ctrl-C, exits at once', async () => {
  const { DUPLICATE_SIGNAL_MS, stopOnSignals } = await import('../../src/cli/serve.ts');
  let clock = 1_000;
  const exits: number[] = [];
  const lines: string[] = [];
  let finishClose!: () => void;
  const closing = new Promise<void>((resolve) => { finishClose = resolve; });
  const { signal: onSignal } = stopOnSignals(() => closing, { now: () => clock, exit: (code) => exits.push(code), say: (l) => lines.push(l) });

  onSignal('SIGTERM');
  clock += 5;
  onSignal('SIGTERM'); // the same SIGTERM to the main PID and the group
  clock += DUPLICATE_SIGNAL_MS - 10;
  onSignal('SIGINT'); // npm forwarding a Ctrl-C that also reached flexd
  assert.deepEqual(exits, [], 'the drain goes on');
  clock += 20;
  onSignal('SIGINT'); // a person's second Ctrl-C
  assert.deepEqual(exits, [1]);
  assert.match(lines.at(-1)!, /second SIGINT, exiting now/);
  finishClose();
  await closing;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(exits, [1, 0]);
});

it('serve: --trust-proxy and FLEXD_TRUST_PROXY=true|false|1|0 set trustProxy; anything else is refused', () => {
  assert.equal((serveOptions(['--trust-proxy'], {}) as { trustProxy?: boolean }).trustProxy, true);
  assert.equal((serveOptions([], { FLEXD_TRUST_PROXY: '1' }) as { trustProxy?: boolean }).trustProxy, true);
  assert.equal((serveOptions([], { FLEXD_TRUST_PROXY: 'false' }) as { trustProxy?: boolean }).trustProxy, false);
  assert.equal((serveOptions([], {}) as { trustProxy?: boolean }).trustProxy, undefined);
  assert.throws(() => serveOptions([], { FLEXD_TRUST_PROXY: 'yes' }), /FLEXD_TRUST_PROXY must be true or false/);
});

it('serve: --password-hash-cost (or FLEXD_PASSWORD_HASH_COST) sets the cost of new password hashes; one out of 10-20 is refused before anything starts', async () => {
  assert.equal((serveOptions(['--password-hash-cost', '12'], {}) as RuntimeOptions).passwordHashCost, 12);
  assert.equal((serveOptions([], { FLEXD_PASSWORD_HASH_COST: '11' }) as RuntimeOptions).passwordHashCost, 11);
  assert.equal((serveOptions(['--password-hash-cost', '12'], { FLEXD_PASSWORD_HASH_COST: '11' }) as RuntimeOptions).passwordHashCost, 12);
  assert.throws(() => serveOptions(['--password-hash-cost', 'high'], {}), /--password-hash-cost must be a non-negative number, got "high"/);
  for (const cost of ['9', '21', '12.5']) {
    const dataDir = join(tmpdir(), `flexd-hash-cost-${process.pid}-${cost}`);
    const options = serveOptions(['--password-hash-cost', cost, '--port', '0', '--data-dir', dataDir], {}) as RuntimeOptions;
    // A runtime that started after all is closed again, so the check fails rather than hangs.
    const refusal = await createRuntime(options).then(async (runtime) => { await runtime.close(); return undefined; }, (err: Error) => err);
    assert.ok(refusal, `a cost of ${cost} is refused`);
    assert.match(refusal.message, new RegExp(`setting "passwordHashCost" must be an integer from 10 to 20 \\(log2 of scrypt's N\\), got ${cost}`));
    assert.equal(existsSync(dataDir), false, 'no data dir was made');
  }
});
