import { it } from 'node:test';
import assert from 'node:assert/strict';
import { serveOptions } from '../../src/cli/serve.ts';

it('serve: flags become runtime options, each also readable from its FLEXD_ variable, flags winning', () => {
  const options = serveOptions(['--port', '0', '--request-timeout-ms', '1500', '--runtime', 'node20=/usr/bin/node'], {
    FLEXD_PORT: '9999', FLEXD_IDLE_TIMEOUT_MS: '0', FLEXD_MEMORY_LIMIT_MB: '128', FLEXD_DATA_DIR: '/srv/flexd',
    FLEXD_ADMIN_EMAIL: 'a@b.c', FLEXD_ADMIN_PASSWORD: 'pw',
  });
  assert.notEqual(options, 'help');
  assert.deepEqual(options, {
    port: 0, requestTimeoutMs: 1500, idleTimeoutMs: 0, memoryLimitMb: 128, dataDir: '/srv/flexd',
    runtimes: { node20: '/usr/bin/node' }, log: 'stderr', adminEmail: 'a@b.c', adminPassword: 'pw',
  });
});

it('serve: a non-numeric number and an unknown flag are refused with a reason', () => {
  assert.throws(() => serveOptions(['--port', 'eighty'], {}), /--port must be a non-negative number/);
  assert.throws(() => serveOptions(['--no-such-flag'], {}), /Unknown option/);
  assert.throws(() => serveOptions(['--runtime', 'nopath'], {}), /name=\/path\/to\/node/);
  assert.throws(() => serveOptions(['--log-format', 'xml'], {}), /--log-format must be text or json/);
});
