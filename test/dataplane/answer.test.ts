/**
 * `answerFromTask` beyond what the receiver oracle can show: flexd's additions (the continue
 * header, JSON instead of a crash) and task types the HTTP receiver never builds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answerBodyText, answerFromTask } from '../../src/dataplane/answer.ts';

const JSON_UTF8 = 'application/json; charset=utf-8';

describe('answerFromTask', () => {
  test('answer: response.continue becomes X-Kinvey-Request-Continue only when it is a boolean', () => {
    const base = { taskType: 'data', request: {}, response: { statusCode: 200, body: {} } };
    assert.equal(answerFromTask({ ...base, response: { ...base.response, continue: true } }).headers['x-kinvey-request-continue'], 'true');
    assert.equal(answerFromTask({ ...base, response: { ...base.response, continue: false } }).headers['x-kinvey-request-continue'], 'false');
    assert.equal(answerFromTask(base).headers['x-kinvey-request-continue'], undefined);
    assert.equal(answerFromTask({ ...base, response: { ...base.response, continue: 'yes' } }).headers['x-kinvey-request-continue'], undefined);
  });

  test('answer: legacy task types answer like their current names', () => {
    const response = { statusCode: 201, body: '{"a":1}' };
    assert.deepStrictEqual(answerFromTask({ taskType: 'dataLink', response }).body, { a: 1 });
    assert.deepStrictEqual(answerFromTask({ taskType: 'businessLogic', request: { r: 1 }, response }).body, {
      request: { r: 1 },
      response: { statusCode: 201, body: { a: 1 } },
    });
  });

  test('answer: an unknown task type answers {} with the task status', () => {
    assert.deepStrictEqual(answerFromTask({ taskType: 'other', response: { statusCode: 202, body: { a: 1 } } }), {
      status: 202, body: {}, headers: { 'content-type': JSON_UTF8 },
    });
  });

  test('answer: the completed task is not modified', () => {
    const task = { taskType: 'functions', request: {}, response: { statusCode: 200, body: '{"a":1}' } };
    answerFromTask(task);
    assert.equal(task.response.body, '{"a":1}');
  });

  test('answer: the functions answer keeps the key order of response', () => {
    const answer = answerFromTask({ taskType: 'functions', request: {}, response: { status: 0, headers: {}, body: '[]', statusCode: 200, continue: true } });
    assert.equal(answerBodyText(answer), '{"request":{},"response":{"status":0,"headers":{},"body":[],"statusCode":200,"continue":true}}');
  });

  test('answer: no task, no response object, or a status Node refuses is a 500 InternalError in JSON', () => {
    for (const task of [null, undefined, { taskType: 'data' }, { taskType: 'data', response: { statusCode: 99 } }, { taskType: 'data', response: { statusCode: 'abc' } }]) {
      const answer = answerFromTask(task);
      assert.equal(answer.status, 500, JSON.stringify(task));
      assert.equal((answer.body as { error: string }).error, 'InternalError');
      assert.equal(answer.headers['content-type'], JSON_UTF8);
    }
    assert.deepStrictEqual(answerFromTask(null).body, { error: 'InternalError', description: 'Bad Request: An Internal Error occurred', debug: '' });
  });

  test('answer: 304 has no body and no content type', () => {
    assert.deepStrictEqual(answerFromTask({ taskType: 'data', response: { statusCode: 304, body: { a: 1 }, continue: false } }), {
      status: 304, body: undefined, headers: { 'x-kinvey-request-continue': 'false' },
    });
  });

  test('answerBodyText: undefined is an empty body, anything else its JSON', () => {
    assert.equal(answerBodyText({ status: 200, body: undefined, headers: {} }), '');
    assert.equal(answerBodyText({ status: 200, body: 'x', headers: {} }), '"x"');
    assert.equal(answerBodyText({ status: 200, body: null, headers: {} }), 'null');
  });
});
