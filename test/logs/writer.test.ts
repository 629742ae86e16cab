/**
 * LogWriter: batches to the log thread, flush() as the point after which a query sees the lines,
 * and the bound on lines waiting for a thread that fell behind (RELIABILITY.md L6).
 *
 * The first three tests hand the writer a HeldSink in place of the log thread: they are about the
 * exact batches, the order and the moment of each report, which only a thread that answers when
 * the test says can show. That is the one stand-in for a part of flexd's own in the suite
 * (test/README.md), and it is allowed only because the last test drives the same overflow through
 * the real LogThread into a real database and checks what was stored.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { LogThread, type LogSink } from '../../src/logs/store-thread.ts';
import { LogWriter } from '../../src/logs/writer.ts';
import { openStore } from '../../src/store/index.ts';
import type { LogRecord, RingTotals } from '../../src/store/logs.ts';
import { cleanupStack } from '../helpers/cleanup.ts';
import { tempDir } from '../helpers/tmp.ts';
import { withDeadline } from '../helpers/wait.ts';

const ENV = 'env-a';
const OTHER = 'env-b';
/** What a waiting line of `line(i)` costs against maxPendingBytes: its message plus the writer's overhead estimate. */
const LINE_COST = 'line 000000'.length + 160;
const DROPPED = /^\[flexd\] dropped (\d+) log lines \(ingest behind\)$/;

const line = (i: number, environmentId = ENV): LogRecord => ({
  environmentId, containerId: 'c0ffee000000', timestamp: new Date(Date.UTC(2024, 0, 1) + i).toISOString(), threshold: null,
  message: `line ${String(i).padStart(6, '0')}`,
});
const numberOf = (r: LogRecord) => Number(r.message.slice(5));

/** In place of the log thread (see the header): stores a batch only when the test says so. */
class HeldSink implements LogSink {
  readonly batches: LogRecord[][] = [];
  private readonly held: (() => void)[] = [];

  append(records: LogRecord[], _caps: RingTotals): Promise<void> {
    this.batches.push(records);
    return new Promise((resolve) => this.held.push(resolve));
  }

  async deleteEnvironment(): Promise<void> {}
  async close(): Promise<void> {}

  /** Stores every batch handed over so far (and those that follow while releasing). */
  async releaseAll(): Promise<void> {
    while (this.held.length > 0) {
      this.held.shift()!();
      await new Promise((r) => setImmediate(r));
    }
  }
}

test('log writer: when the log thread falls behind, the oldest waiting lines are dropped, one note per environment marks the gap, and the newest lines are stored in order', async () => {
  const sink = new HeldSink();
  const maxLines = 10;
  const maxPendingBytes = 100 * LINE_COST;
  const writer = new LogWriter(sink, { capBytes: () => 1 << 20, flushIntervalMs: 60_000, maxLines, maxPendingBytes });

  for (let i = 0; i < 1_000; i++) writer.write(line(i));
  writer.write(line(1_000, OTHER));
  // Two batches went to the thread at once (one being stored, one queued); it has answered neither.
  assert.deepEqual(sink.batches.map((b) => b.map(numberOf)), [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]]);
  const dropped = writer.droppedLines(ENV);
  assert.ok(dropped > 0, 'lines were dropped');
  assert.equal(writer.droppedLines(OTHER), 0);

  const flushed = writer.flush();
  await withDeadline('the held batches to be stored', sink.releaseAll(), 5_000);
  await withDeadline('flush after the thread caught up', flushed, 5_000);

  const after = sink.batches.slice(2).flat();
  const notes = after.filter((r) => DROPPED.test(r.message));
  assert.equal(notes.length, 1, 'one note for the one environment that lost lines');
  assert.deepEqual([notes[0].environmentId, notes[0].containerId, notes[0].threshold], [ENV, 'flexd', 'warn']);
  assert.equal(Number(DROPPED.exec(notes[0].message)![1]), dropped, 'the note counts the dropped lines');
  assert.equal(after[0], notes[0], 'the note comes first after the gap, where the lines are missing');

  const kept = after.slice(1).filter((r) => r.environmentId === ENV).map(numberOf);
  assert.deepEqual(kept, kept.map((_, i) => 999 - (kept.length - 1) + i), 'what is kept is the newest run, whole and in order');
  assert.equal(20 + dropped + kept.length, 1_000, 'every line is stored or counted in the note');
  assert.ok(kept.length * LINE_COST <= maxPendingBytes, `${kept.length} lines waited, within ${maxPendingBytes / LINE_COST} lines' worth`);
  assert.deepEqual(after.filter((r) => r.environmentId === OTHER).map(numberOf), [1_000]);
});

test('log writer: an environment with a quarter of the cap waiting is reported behind (its replicas can pause), and reported caught up under a sixteenth; a quiet one never is', async () => {
  const sink = new HeldSink();
  const maxPendingBytes = 160 * LINE_COST;
  const writer = new LogWriter(sink, { capBytes: () => 1 << 20, flushIntervalMs: 60_000, maxLines: 10, maxPendingBytes });
  const events: [string, boolean][] = [];
  writer.onBacklog((id, behind) => events.push([id, behind]));

  writer.write(line(0, OTHER));
  for (let i = 1; i <= 59; i++) writer.write(line(i));
  // Lines 0…19 are with the thread; 20…59 wait: a quarter of the cap, not more.
  assert.deepEqual(events, [], '40 lines waiting is not yet behind');
  writer.write(line(60));
  assert.deepEqual(events, [[ENV, true]]);
  for (let i = 61; i <= 100; i++) writer.write(line(i));
  assert.deepEqual(events, [[ENV, true]], 'reported once');
  assert.equal(writer.droppedLines(ENV), 0, 'nothing dropped yet');

  await withDeadline('the thread to catch up', Promise.all([writer.flush(), sink.releaseAll()]), 5_000);
  assert.deepEqual(events, [[ENV, true], [ENV, false]]);
});

test('log writer: flush() resolves only once the lines written before it are stored', async () => {
  const sink = new HeldSink();
  const writer = new LogWriter(sink, { capBytes: () => 1 << 20, flushIntervalMs: 60_000, maxLines: 10 });
  writer.write(line(1));
  let done = false;
  const flushed = writer.flush().then(() => { done = true; });
  assert.deepEqual(sink.batches.map((b) => b.map(numberOf)), [[1]], 'flush hands the waiting line over at once');
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'not before the thread stored it');
  await sink.releaseAll();
  await withDeadline('flush', flushed, 5_000);
  assert.equal(done, true);
  await withDeadline('a flush with nothing waiting', writer.flush(), 5_000);
});

test('log writer: through the real log thread, a burst past the pending cap leaves the ring with the note, the newest lines, and a true byte total', async (t) => {
  const cleanup = cleanupStack(t);
  const dataDir = await tempDir(cleanup, 'flexd-logs-');
  const store = await openStore(dataDir);
  cleanup.after(() => store.close());
  const maxPendingBytes = 500 * LINE_COST;
  const writer = new LogWriter(new LogThread(join(dataDir, 'flexd.db'), store.logs), { capBytes: () => 1 << 20, flushIntervalMs: 50, maxLines: 100, maxPendingBytes });
  cleanup.after(() => writer.close());

  // One synchronous burst: the thread's answers cannot come back before it ends, so it is behind.
  for (let i = 0; i < 5_000; i++) writer.write(line(i));
  await withDeadline('flush', writer.flush(), 10_000);

  const rows = (await store.logs.query(ENV, { limit: 10_000, page: 1 }));
  const note = rows.findIndex((r) => DROPPED.test(r.message));
  assert.ok(note > 0, 'the note is stored where the gap is');
  assert.equal(Number(DROPPED.exec(rows[note].message)![1]), writer.droppedLines(ENV));
  const kept = rows.slice(note + 1).map((r) => Number(r.message.slice(5)));
  assert.equal(kept.at(-1), 4_999, 'the newest line is stored');
  assert.equal(rows.length - 1 + writer.droppedLines(ENV), 5_000, 'every line is stored or counted in the note');
  const onDisk = (await store.logs.stored(ENV)).bytes;
  assert.equal(store.logs.bytes(ENV), onDisk, 'the total the thread reported is what the table holds');

  await writer.deleteEnvironment(ENV);
  assert.deepEqual((await store.logs.query(ENV, { limit: 10, page: 1 })), []);
  assert.equal(store.logs.bytes(ENV), 0);
});
