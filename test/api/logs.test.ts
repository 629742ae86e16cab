import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cleanupStack } from '../helpers/cleanup.ts';
import { startApi, type Api } from './helpers.ts';

/** Small, so a few hundred lines overflow it. */
const RING_BYTES = 16 * 1024;

/** One runtime for the tests on the default ring, each in a service of its own; the ring test starts its own. */
const fileCleanup = cleanupStack({ after });
let shared: Promise<Api> | undefined;
const runtime = () => (shared ??= startApi(fileCleanup));

/**
 * Writes `count` lines one minute apart from 2024-05-01T10:00Z through the runtime's log writer
 * (the path a replica's lines take), with the timestamps the query tests need.
 */
function writeLines(api: Api, environmentId: string, count: number, text = (i: number) => `line ${i}`): void {
  for (let i = 0; i < count; i++) {
    api.rt.context.logs.write({
      environmentId, containerId: 'abcdef012345', threshold: i % 2 === 0 ? 'info' : null, message: text(i),
      timestamp: new Date(Date.UTC(2024, 4, 1, 10, i)).toISOString(),
    });
  }
}

test('logs: from/to with +02:00 offsets sent unencoded select by instant, oldest first', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('offsets');
  writeLines(api, environmentId, 10); // lines 0…9 at 10:00Z…10:09Z; not flushed: the API flushes first
  const base = `/v4/services/${serviceId}/environments/${environmentId}/logs`;

  // As kinvey-cli sends it: concatenated into the URL, the + left as it is.
  const r = await api.call('GET', `${base}?from=2024-05-01T12:03:00+02:00&to=2024-05-01T12:05:00+02:00`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.map((l: { message: string }) => l.message), ['line 3', 'line 4', 'line 5']);
  const [first] = r.body;
  assert.deepEqual(Object.keys(first).sort(), ['_id', 'containerId', 'message', 'threshold', 'timestamp']);
  assert.deepEqual([first.containerId, first.threshold, first.timestamp], ['abcdef012345', null, '2024-05-01T10:03:00.000Z']);

  const west = await api.call('GET', `${base}?from=2024-05-01T05:08:00-05:00`);
  assert.deepEqual(west.body.map((l: { message: string }) => l.message), ['line 8', 'line 9']);

  const bad = await api.call('GET', `${base}?from=2024-05-01T12:03:00 02:00`.replace(' ', '%20'));
  assert.deepEqual([bad.status, bad.body.code], [400, 'InvalidLogQuery']);
  assert.match(bad.body.description, /"from" must be an ISO-8601/);
});

test('logs: limit and page walk the lines oldest first; afterId follows new ones; limits are enforced', async () => {
  const api = await runtime();
  const { serviceId, environmentId } = await api.createEnvironment('paging');
  writeLines(api, environmentId, 250);
  const base = `/v4/services/${serviceId}/environments/${environmentId}/logs`;
  const messages = async (query: string) => (await api.call('GET', `${base}${query}`)).body.map((l: { message: string }) => l.message);

  const firstPage = await messages('');
  assert.equal(firstPage.length, 100, 'default limit');
  assert.equal(firstPage[0], 'line 0');
  assert.deepEqual(await messages('?limit=3&page=2'), ['line 3', 'line 4', 'line 5']);
  assert.deepEqual(await messages('?limit=100&page=3'), Array.from({ length: 50 }, (_, i) => `line ${200 + i}`));
  assert.deepEqual(await messages('?limit=100&page=4'), []);

  const all = (await api.call('GET', `${base}?limit=2000`)).body;
  assert.equal(all.length, 250);
  const lastId = all[247]._id;
  assert.deepEqual(await messages(`?afterId=${lastId}`), ['line 248', 'line 249']);
  writeLines(api, environmentId, 1, () => 'fresh');
  assert.deepEqual(await messages(`?afterId=${all[249]._id}`), ['fresh'], 'lines still in the writer batch are flushed first');

  for (const query of ['?limit=2001', '?limit=0', '?page=0', '?page=two', '?afterId=1&page=2']) {
    const r = await api.call('GET', `${base}${query}`);
    assert.deepEqual([r.status, r.body.code], [400, 'InvalidLogQuery'], query);
  }
});

test('logs: writing past the ring cap keeps the newest lines and stays under the cap', async (t) => {
  const api = await startApi(t, { logRingBytes: RING_BYTES });
  const { serviceId, environmentId } = await api.createEnvironment('svc');
  const other = await api.createEnvironment('other');
  const { store, logs } = api.rt.context;
  writeLines(api, other.environmentId, 5);
  const padding = 'x'.repeat(100);
  for (let batch = 0; batch < 10; batch++) {
    writeLines(api, environmentId, 100, (i) => `batch ${batch} line ${i} ${padding}`);
    await logs.flush();
    assert.ok(store.logs.bytes(environmentId) <= RING_BYTES, `after batch ${batch}: ${store.logs.bytes(environmentId)} bytes`);
  }

  const kept = (await api.call('GET', `/v4/services/${serviceId}/environments/${environmentId}/logs?limit=2000`)).body as { message: string }[];
  assert.ok(kept.length > 0 && kept.length < 1000, `${kept.length} lines kept`);
  assert.equal(kept.at(-1)!.message, `batch 9 line 99 ${padding}`, 'the newest line is kept');
  assert.ok(!kept.some((l) => l.message.startsWith('batch 0 ')), 'the oldest lines went first');
  const sequence = kept.map((l) => {
    const [, batch, line] = /^batch (\d+) line (\d+)/.exec(l.message)!;
    return Number(batch) * 100 + Number(line);
  });
  assert.deepEqual(sequence, sequence.map((_, i) => 999 - (sequence.length - 1) + i), 'what is kept is the newest run, whole and in order');
  const stored = kept.reduce((sum, l) => sum + Buffer.byteLength(l.message) + 64, 0);
  assert.ok(stored <= RING_BYTES && stored > RING_BYTES / 2, `${stored} bytes kept of a ${RING_BYTES}-byte ring`);

  const untouched = (await api.call('GET', `/v4/services/${other.serviceId}/environments/${other.environmentId}/logs`)).body;
  assert.equal(untouched.length, 5, 'another environment\'s ring is its own');
});
