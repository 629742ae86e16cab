/**
 * The replica sends back only the part of a completed task flexd's answer reads
 * (src/child/answer-part.ts). The oracle is the answer flexd made from the whole task: for
 * completed tasks of every type and shape, the part crossing the channel (a JSON round trip, as
 * the frame makes it) gives the same status, headers and body bytes as the whole task did.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerPart } from '../../src/child/answer-part.ts';
import { answerBodyText, answerFromTask } from '../../src/dataplane/answer.ts';
import { receiverDialect } from '../../src/dataplane/receiver-dialect.ts';

const acrossTheChannel = (value: unknown) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;

/** A completed task as the SDK leaves it: the request the receiver built, the response the handler set. */
function completed(taskType: string, response: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    appId: 'kid_1', appMetadata: { _id: 'kid_1', appsecret: 's' }, authKey: 'secret', requestId: 'r-1', method: 'GET',
    request: { method: 'GET', headers: { host: 'h' }, username: 'u', userId: 'i', serviceObjectName: 'items', query: { a: '1' }, body: { x: [1, 2] } },
    response, taskType, ...extra,
  };
}

const RESPONSES: Record<string, unknown>[] = [
  { status: 0, headers: {}, body: [{ _id: 'a', n: 1 }, { _id: 'b', n: 2 }], statusCode: 200, continue: false },
  { status: 0, headers: {}, body: '{"parsed":true}', statusCode: 201, continue: true },
  { status: 0, headers: {}, body: 'not json', statusCode: 404, continue: false },
  { body: { a: 1 }, statusCode: 204, continue: false },
  { body: undefined, statusCode: 200 },
  { body: { a: 1 }, statusCode: 99 },
  { body: null, statusCode: '201', continue: 'yes' },
  { headers: { 'x-a': 'b' }, body: '[1]', statusCode: 550 },
];

test('answer part: every task type answers the same bytes, status and headers from the part as from the whole task', () => {
  const tasks: Record<string, unknown>[] = [];
  for (const taskType of ['data', 'dataLink', 'functions', 'businessLogic', 'auth', 'other']) {
    for (const response of RESPONSES) tasks.push(completed(taskType, response, taskType === 'functions' ? { taskName: 'f', hookType: 'customEndpoint' } : {}));
  }
  tasks.push(completed('serviceDiscovery', {}, { discoveryObjects: { dataLink: { serviceObjects: ['items'] }, businessLogic: { handlers: ['f'] } } }));
  tasks.push({ request: {}, response: { statusCode: 200, body: { a: 1 } } }); // no task type
  tasks.push({ taskType: 'data', request: {} }); // no response
  for (const dialect of [receiverDialect(undefined), receiverDialect({ version: '2.2.0', requestBodyLimit: null })]) {
    for (const task of tasks) {
      const whole = answerFromTask(acrossTheChannel(task), dialect);
      const fromPart = answerFromTask(acrossTheChannel(answerPart(task)), dialect);
      const what = JSON.stringify(task).slice(0, 200);
      assert.equal(fromPart.status, whole.status, what);
      assert.deepStrictEqual(fromPart.headers, whole.headers, what);
      assert.equal(answerBodyText(fromPart), answerBodyText(whole), what);
    }
  }
});

test('answer part: a data task sends its type and response only; functions add the request, discovery its objects', () => {
  const response = { statusCode: 200, body: [1] };
  assert.deepStrictEqual(answerPart(completed('data', response)), { taskType: 'data', response });
  const fn = completed('functions', response);
  assert.deepStrictEqual(answerPart(fn), { taskType: 'functions', response, request: fn.request });
  const discovery = completed('serviceDiscovery', {}, { discoveryObjects: { a: 1 } });
  assert.deepStrictEqual(answerPart(discovery), { taskType: 'serviceDiscovery', response: {}, discoveryObjects: { a: 1 } });
});

test('answer part: a value the data answer never shows (a cycle in the request) no longer stops the answer, as under node .', () => {
  const task = completed('data', { statusCode: 200, body: { ok: true } });
  (task.request as Record<string, unknown>).self = task.request;
  assert.throws(() => JSON.stringify(task));
  assert.equal(answerBodyText(answerFromTask(acrossTheChannel(answerPart(task)))), '{"ok":true}');
});

test('answer part: what is not a plain record is sent whole, so flexd refuses or reads it as before', () => {
  const list = [{ taskType: 'data' }];
  assert.equal(answerPart(list), list);
  assert.equal(answerPart('text'), 'text');
  assert.equal(answerPart(null), null);
  const withToJson = { taskType: 'data', response: {}, toJSON: () => ({ other: 1 }) };
  assert.equal(answerPart(withToJson), withToJson);
  class Completed { taskType = 'data'; response = { statusCode: 200 }; }
  const instance = new Completed();
  assert.equal(answerPart(instance), instance);
  const throwing = { taskType: 'data', get response(): unknown { throw new Error('no'); } };
  assert.equal(answerPart(throwing), throwing);
  // Only own enumerable fields are taken, as JSON.stringify takes them.
  const hidden = Object.defineProperty({ taskType: 'data' }, 'response', { value: { statusCode: 201 }, enumerable: false });
  assert.deepStrictEqual(answerPart(hidden), { taskType: 'data' });
});
