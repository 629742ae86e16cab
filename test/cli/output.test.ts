import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { newLines, jobReason } from '../../src/cli/jobs.ts';
import { formatKeyValue, formatTable, Output } from '../../src/cli/output.ts';

function capture(mode: 'table' | 'json'): { out: Output; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => { text += c.toString(); });
  return { out: new Output(mode, stream), text: () => text };
}

test('output: tables align columns, flatten newlines and show objects as JSON', () => {
  assert.equal(formatTable([{ id: 'a1', name: 'orders' }, { id: 'b', name: 'x\ny', extra: 1 }], ['id', 'name']),
    'id  name\na1  orders\nb   x y');
  assert.equal(formatKeyValue({ status: 'ONLINE', version: '1.0.0', gone: undefined, obj: { a: 1 } }),
    'key      value\nstatus   ONLINE\nversion  1.0.0\nobj      {"a":1}');
});

test('output: a list is "Count: N" then the table; --output json prints {"result": raw} only', () => {
  const human = capture('table');
  human.out.result([{ id: '1' }], () => human.out.list([{ id: '1' }], ['id']));
  assert.equal(human.text(), 'Count: 1\nid\n1\n');
  const json = capture('json');
  json.out.say('progress is not for scripts');
  json.out.result([{ id: '1' }], () => json.out.list([{ id: '1' }], ['id']));
  assert.deepEqual(JSON.parse(json.text()), { result: [{ id: '1' }] });
});

test('jobs: only progress lines not shown yet are printed, also when the progress window rolls', () => {
  assert.deepEqual(newLines([], ['Queued']), ['Queued']);
  assert.deepEqual(newLines(['Queued'], ['Queued', 'Building']), ['Building']);
  assert.deepEqual(newLines(['a', 'b', 'c'], ['b', 'c', 'd', 'e']), ['d', 'e']);
  assert.deepEqual(newLines(['a', 'b'], ['a', 'b']), []);
  assert.deepEqual(newLines(['x'], ['y', 'z']), ['y', 'z']);
});

test('jobs: the reason of a failed job is its coded error line, not the replica output after it', () => {
  assert.equal(jobReason({ jobId: 'j', type: 'deployService', status: 'ERROR',
    progress: 'Queued\nBuilding\nInvalidProject: package.json has no "version".' }), 'InvalidProject: package.json has no "version".');
  assert.equal(jobReason({ jobId: 'j', type: 'deployService', status: 'ERROR',
    progress: 'Building\nThe new version failed to start: exited with code 1\n--- last output ---\nError: boom\n    at x' }),
  'The new version failed to start: exited with code 1');
  assert.equal(jobReason({ jobId: 'j', type: 'deployService', status: 'ERROR', progress: 'Building\nsomething broke' }), 'something broke');
  assert.equal(jobReason({ jobId: 'j', type: 'x', status: 'ERROR', reason: 'given\nmore' }), 'given');
});
