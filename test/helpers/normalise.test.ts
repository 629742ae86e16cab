import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNormaliser } from './normalise.ts';

const ID_1 = '5f1e9c2ab3d4e5f60718293a';
const ID_2 = '5f1e9c2ab3d4e5f60718293b';
const STACK = 'Error: boom\n    at /srv/index.js:141:52\n    at Object.process (/srv/node_modules/x.js:87:10)';

test('normalise: generated ids, _kmd timestamps and stack traces become their shape, keeping the key', () => {
  const normalise = createNormaliser();
  assert.deepEqual(normalise({
    _id: ID_1,
    _kmd: { ect: '2024-01-02T03:04:05.678Z', lmt: '2024-01-02T03:04:06.000Z' },
    debug: { name: 'Error', message: 'boom', stack: STACK },
    nested: [{ _id: ID_2, debug: STACK }],
  }), {
    _id: '<objectid#1>',
    _kmd: { ect: '<timestamp>', lmt: '<timestamp>' },
    debug: { name: 'Error', message: 'boom', stack: '<stack>' },
    nested: [{ _id: '<objectid#2>', debug: '<stack>' }],
  });
});

test('normalise: one id keeps its number across answers, so a different id still shows', () => {
  const normalise = createNormaliser();
  normalise({ _id: ID_1 });
  assert.deepEqual(normalise([{ _id: ID_2 }, { _id: ID_1 }]), [{ _id: '<objectid#2>' }, { _id: '<objectid#1>' }]);
});

test('normalise: values of the wrong form or under other keys are left alone', () => {
  const normalise = createNormaliser();
  const untouched = {
    _id: 'w-fixed',
    short: { _id: ID_1.slice(1) },
    upper: { _id: ID_1.toUpperCase() },
    entityId: ID_1,
    created: '2024-01-02T03:04:05.678Z',
    _kmd: { ect: 'yesterday', lmt: '2024-01-02' },
    other: { ect: '2024-01-02T03:04:05.678Z' },
    debug: 'boom',
    stack: 'not a stack',
    message: STACK,
    error: { debug: 'Error: boom\n(no frames)' },
  };
  assert.deepEqual(normalise(untouched), untouched);
});
