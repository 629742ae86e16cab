import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT, parseLogQuery } from '../../src/api/log-query.ts';

const refused = (query: string, message: RegExp) => assert.throws(() => parseLogQuery(query), (err: { code: string; status: number; message: string }) => {
  assert.equal(err.code, 'InvalidLogQuery', query);
  assert.equal(err.status, 400);
  assert.match(err.message, message);
  return true;
});

test('log query: defaults are page 1 of 100 lines', () => {
  assert.deepEqual(parseLogQuery(''), { kind: 'page', from: undefined, to: undefined, limit: DEFAULT_LOG_LIMIT, page: 1 });
});

test('log query: a literal + in from/to is a UTC offset, not a space', () => {
  const q = parseLogQuery('from=2024-05-01T14:00:00+02:00&to=2024-05-01T14:30:00.5+0200');
  assert.deepEqual(q, { kind: 'page', from: '2024-05-01T12:00:00.000Z', to: '2024-05-01T12:30:00.500Z', limit: 100, page: 1 });
  assert.equal((parseLogQuery('from=2024-05-01T14:00:00%2B02:00') as { from: string }).from, '2024-05-01T12:00:00.000Z', 'percent-encoded + too');
});

test('log query: ISO-8601 forms: date only, minutes, Z, negative and hour-only offsets, no zone = UTC', () => {
  const from = (value: string) => (parseLogQuery(`from=${value}`) as { from: string }).from;
  assert.equal(from('2024-05-01'), '2024-05-01T00:00:00.000Z');
  assert.equal(from('2024-05-01T09:30'), '2024-05-01T09:30:00.000Z');
  assert.equal(from('2024-05-01T09:30:15Z'), '2024-05-01T09:30:15.000Z');
  assert.equal(from('2024-05-01T09:30:15.123456Z'), '2024-05-01T09:30:15.123Z');
  assert.equal(from('2024-05-01T09:30:15-05:30'), '2024-05-01T15:00:15.000Z');
  assert.equal(from('2024-05-01T09:30:15+02'), '2024-05-01T07:30:15.000Z');
  assert.equal(from('20240501T093015Z'), '2024-05-01T09:30:15.000Z');
  assert.equal(from('2024-02-29T00:00:00Z'), '2024-02-29T00:00:00.000Z');
});

test('log query: malformed or impossible dates are refused naming the parameter', () => {
  for (const bad of ['yesterday', '2024-13-01', '2023-02-29', '2024-05-01T25:00', '2024-05-01T12:60', '2024-05-01T12:00:00 02:00', '2024-05-01T12:00+25:00', '1714564800']) {
    refused(`from=${bad}`, /"from" must be an ISO-8601 date and time/);
  }
  refused('to=2024-05-01Tnoon', /"to" must be/);
  refused('from=2024-05-02&to=2024-05-01', /"from" .* is after "to"/);
  refused('from=%E0%A4%A', /not validly percent-encoded/);
});

test(`log query: limit is 1…${MAX_LOG_LIMIT} (over the max is refused, not clamped) and page starts at 1`, () => {
  assert.deepEqual(parseLogQuery(`limit=${MAX_LOG_LIMIT}&page=3`), { kind: 'page', from: undefined, to: undefined, limit: MAX_LOG_LIMIT, page: 3 });
  for (const bad of [`limit=${MAX_LOG_LIMIT + 1}`, 'limit=0', 'limit=-5', 'limit=ten', 'limit=1.5', 'page=0', 'page=-1', 'page=x']) {
    refused(bad, /must be a whole number/);
  }
});

test('log query: afterId asks for the lines after a given _id, and is not mixed with paging', () => {
  assert.deepEqual(parseLogQuery('afterId=42&limit=10'), { kind: 'after', afterId: 42, limit: 10 });
  assert.deepEqual(parseLogQuery('afterId=0'), { kind: 'after', afterId: 0, limit: DEFAULT_LOG_LIMIT });
  refused('afterId=5&page=2', /cannot be combined with page/);
  refused('afterId=-1', /"afterId" must be a whole number/);
});
