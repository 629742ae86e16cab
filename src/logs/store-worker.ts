/**
 * Inside the log thread (started by store-thread.ts): its own connection to the runtime's
 * database, and the LogRing that inserts batches and trims rings. Requests are answered in the
 * order they come.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { LogRing, type RingTotals } from '../store/logs.ts';
import type { FromLogThread, LogThreadData, ToLogThread } from './store-thread.ts';

/**
 * Lines per transaction. The runtime's connection writes jobs and versions now and then; while
 * a log transaction holds the write lock it waits (busy_timeout), blocking its event loop.
 * 500 lines take about 3 ms to insert and trim on the bench machine with a core to themselves
 * (~5 µs a line), a few times that when the cores are busy.
 */
const TRANSACTION_MAX_LINES = 500;
/** How long the thread waits for the runtime's connection to release the write lock (db.ts gives that one the same). */
const BUSY_TIMEOUT_MS = 5_000;

const { file, resolveFrom } = workerData as LogThreadData;
const Database = createRequire(resolveFrom)('better-sqlite3') as typeof BetterSqlite3;
const db = new Database(file);
db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
// Logs are not control data: in WAL, NORMAL keeps the database consistent through a power loss
// (the last commits may be lost) and saves an fsync per transaction (DESIGN.md, decision 5).
db.pragma('synchronous = NORMAL');
const ring = new LogRing(db);
const port = parentPort!;

const post = (m: FromLogThread) => port.postMessage(m);
post({ type: 'ready', totals: ring.all() });

port.on('message', (m: ToLogThread) => {
  if (m.type === 'close') {
    db.close();
    port.close();
    return;
  }
  const totals: RingTotals = {};
  try {
    if (m.type === 'append') {
      for (let i = 0; i < m.records.length; i += TRANSACTION_MAX_LINES) {
        Object.assign(totals, ring.append(m.records.slice(i, i + TRANSACTION_MAX_LINES), m.caps));
      }
    } else {
      ring.deleteEnvironment(m.environmentId);
      totals[m.environmentId] = 0;
    }
    post({ type: 'done', id: m.id, totals });
  } catch (err) {
    // The disk is full, say: the lines of this request are lost, the thread stays for the next one.
    post({ type: 'done', id: m.id, totals, error: (err as Error).message });
  }
});
