import { it } from 'node:test';
import assert from 'node:assert/strict';
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
