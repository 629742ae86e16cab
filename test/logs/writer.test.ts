/**
 * LogWriter: batches to the log thread, flush() as the point after which a query sees the lines,
 * and the bound on lines waiting for a thread that fell behind (RELIABILITY.md L6).
 *
 * Every test drives the real LogThread (a worker with its own connection) into a real database,
 * and reads what was stored. A synchronous burst of writes is how the thread "falls behind" on
 * demand: its answers come back through this thread's event loop, so none can arrive before the
 * burst ends, and the writer's state after it is the same on any machine, loaded or not.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LogThread } from '../../src/logs/store-thread.ts';
import { LogWriter, type LogWriterOptions } from '../../src/logs/writer.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import type { LogRecord } from '../../src/store/logs.ts';
import { cleanupStack, type CleanupContext } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

/** What a waiting line of `line(i)` costs against maxPendingBytes: its message plus the writer's overhead estimate. */
const LINE_COST = 'line 000000'.length + 160;
const DROPPED = /^\[flexd\] dropped (\d+) log lines \(ingest behind\)$/;
/** A flush on a loaded machine: a deadline for a hang, not a measure. */
const FLUSH_TIMEOUT_MS = 30_000;

const line = (i: number, environmentId: string): LogRecord => ({
  environmentId, containerId: 'c0ffee000000', timestamp: new Date(Date.UTC(2024, 0, 1) + i).toISOString(), threshold: null,
  message: `line ${String(i).padStart(6, '0')}`,
});
const numberOf = (r: { message: string }) => Number(r.message.slice(5));

const fileCleanup = cleanupStack({ after });
let dataDir: string;
let store: Store;
before(async () => {
  dataDir = await tempDir(fileCleanup, 'flexd-logs-');
  store = await openStore(dataDir);
  fileCleanup.after(() => store.close());
});

/** A writer in front of a real log thread of the file's database; closed (thread ended) with `cleanup`. */
function writerOf(cleanup: CleanupContext, options: Omit<LogWriterOptions, 'capBytes'>): LogWriter {
  const writer = new LogWriter(new LogThread(join(dataDir, 'flexd.db'), store.logs), { capBytes: () => 1 << 20, ...options });
  cleanup.after(() => writer.close());
  return writer;
}

const stored = async (environmentId: string) => store.logs.query(environmentId, { limit: 10_000, page: 1 });

test('log writer: when the log thread falls behind, the oldest waiting lines are dropped, one note per environment marks the gap where it is, the newest lines are stored in order, and the byte total is true', async (t) => {
  const cleanup = cleanupStack(t);
  const [env, other] = ['drop-a', 'drop-b'];
  const maxPendingBytes = 100 * LINE_COST;
  const writer = writerOf(cleanup, { flushIntervalMs: 60_000, maxLines: 10, maxPendingBytes });

  // One synchronous burst: two batches go to the thread at once (one being stored, one queued), the rest waits.
  for (let i = 0; i < 1_000; i++) writer.write(line(i, env));
  writer.write(line(1_000, other));
  const dropped = writer.droppedLines(env);
  assert.ok(dropped > 0, 'lines were dropped');
  assert.equal(writer.droppedLines(other), 0);
  await withDeadline('flush after the burst', writer.flush(), FLUSH_TIMEOUT_MS);

  const rows = await stored(env);
  const notes = rows.filter((r) => DROPPED.test(r.message));
  assert.equal(notes.length, 1, 'one note for the one environment that lost lines');
  const note = rows.indexOf(notes[0]!);
  assert.deepEqual(rows.slice(0, note).map(numberOf), Array.from({ length: 20 }, (_, i) => i), 'the two batches already with the thread are stored whole, before the note');
  assert.deepEqual([notes[0]!.containerId, notes[0]!.threshold], ['flexd', 'warn']);
  assert.equal(Number(DROPPED.exec(notes[0]!.message)![1]), dropped, 'the note counts the dropped lines');
  const kept = rows.slice(note + 1).map(numberOf);
  assert.deepEqual(kept, kept.map((_, i) => 999 - (kept.length - 1) + i), 'what is kept after the gap is the newest run, whole and in order');
  assert.ok(kept.length > 0, 'the newest lines are stored');
  assert.equal(20 + dropped + kept.length, 1_000, 'every line is stored or counted in the note');
  assert.ok(kept.length * LINE_COST <= maxPendingBytes, `${kept.length} lines waited, within ${maxPendingBytes / LINE_COST} lines' worth`);
  assert.deepEqual((await stored(other)).map(numberOf), [1_000], 'the quiet environment lost nothing');
  assert.equal(store.logs.bytes(env), (await store.logs.stored(env)).bytes, 'the total the thread reported is what the table holds');

  await writer.deleteEnvironment(env);
  assert.deepEqual(await stored(env), []);
  assert.equal(store.logs.bytes(env), 0);
});

test('log writer: an environment with a quarter of the cap waiting is reported behind (its replicas can pause), and reported caught up under a sixteenth; a quiet one never is', async (t) => {
  const cleanup = cleanupStack(t);
  const [env, other] = ['backlog-a', 'backlog-b'];
  const writer = writerOf(cleanup, { flushIntervalMs: 60_000, maxLines: 10, maxPendingBytes: 160 * LINE_COST });
  const events: [string, boolean][] = [];
  writer.onBacklog((id, behind) => events.push([id, behind]));

  // Synchronous writes: the thread cannot answer in between.
  writer.write(line(0, other));
  for (let i = 1; i <= 59; i++) writer.write(line(i, env));
  // Lines 0…19 are with the thread; 20…59 wait: a quarter of the cap, not more.
  assert.deepEqual(events, [], '40 lines waiting is not yet behind');
  writer.write(line(60, env));
  assert.deepEqual(events, [[env, true]]);
  for (let i = 61; i <= 100; i++) writer.write(line(i, env));
  assert.deepEqual(events, [[env, true]], 'reported once');
  assert.equal(writer.droppedLines(env), 0, 'nothing dropped yet');

  await withDeadline('the thread to catch up', writer.flush(), FLUSH_TIMEOUT_MS);
  assert.deepEqual(events, [[env, true], [env, false]]);
  assert.deepEqual((await stored(env)).map(numberOf), Array.from({ length: 100 }, (_, i) => i + 1), 'every line stored, in order');
});

test('log writer: a line waits for its batch, and flush() hands it over and resolves only once a query sees it', async (t) => {
  const cleanup = cleanupStack(t);
  const env = 'flush-a';
  const writer = writerOf(cleanup, { flushIntervalMs: 60_000, maxLines: 10 });
  writer.write(line(1, env));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(await stored(env), [], 'one line of a batch of ten waits (the interval is a minute)');
  await withDeadline('flush', writer.flush(), FLUSH_TIMEOUT_MS);
  assert.deepEqual((await stored(env)).map(numberOf), [1], 'stored by the time flush resolves');
  writer.write(line(2, env));
  writer.write(line(3, env));
  await withDeadline('a second flush', writer.flush(), FLUSH_TIMEOUT_MS);
  assert.deepEqual((await stored(env)).map(numberOf), [1, 2, 3]);
  await withDeadline('a flush with nothing waiting', writer.flush(), FLUSH_TIMEOUT_MS);
});
