import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LogRecord, LogStore, RingTotals } from '../store/logs.ts';
import { bundleFromSource } from '../source-bundle.ts';

const WORKER_SOURCE = fileURLToPath(new URL('./store-worker.ts', import.meta.url));
/** The same, bundled by `npm run build` (scripts/build.mjs): the installed package has no .ts sources. */
const WORKER_PREBUILT = fileURLToPath(new URL('./store-worker.bundle.mjs', import.meta.url));
/** How long close() waits for the thread to store what it was given and exit before terminating it. */
const CLOSE_TIMEOUT_MS = 10_000;

/** What the log thread is started with (`workerData`). */
export interface LogThreadData {
  /** the SQLite database file the runtime opened and migrated */
  file: string;
  /** a file URL better-sqlite3 resolves from: the thread's code runs from a data: URL */
  resolveFrom: string;
}

/** Messages to the log thread; it answers each request in the order it came. */
export type ToLogThread =
  | { type: 'append'; id: number; records: LogRecord[]; caps: RingTotals }
  | { type: 'delete'; id: number; environmentId: string }
  | { type: 'close' };

/** Messages from the log thread: the totals it starts from, then one `done` per request. */
export type FromLogThread =
  | { type: 'ready'; totals: RingTotals }
  | { type: 'done'; id: number; totals: RingTotals; error?: string };

/** Where LogWriter sends its batches: the log thread, or a stand-in in tests. */
export interface LogSink {
  /** Stores the records and trims their environments to `caps`; resolves once committed. */
  append(records: LogRecord[], caps: RingTotals): Promise<void>;
  deleteEnvironment(environmentId: string): Promise<void>;
  close(): Promise<void>;
}

let bundled: string | undefined;

/**
 * The log thread's code as one ES module: from a checkout, bundled with esbuild once for every
 * change of its sources (source-bundle.ts), as the replica entry is (supervisor/child-entry.ts). A worker started from the .ts file would need
 * tsx's loader inside the thread — about 220 ms per start on the 2-core bench machine, against
 * about 45 ms for the bundle (and tsx's `--import` does not reach workers on Node 20:
 * privatenumber/tsx#354).
 */
function workerCode(): string {
  if (bundled === undefined && existsSync(WORKER_PREBUILT)) bundled = readFileSync(WORKER_PREBUILT, 'utf8');
  bundled ??= bundleFromSource('log-thread', {
    entryPoints: [WORKER_SOURCE], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    external: ['better-sqlite3'], logLevel: 'silent', legalComments: 'none',
  });
  return bundled;
}

/**
 * The log writes of one runtime, on a worker thread with its own connection to the database:
 * inserting a flood of lines (about 15 µs each across the table and its two indexes) and
 * trimming the rings then costs the event loop that routes requests only the hand-over of each
 * batch. Started at the first request; requests are answered in order, and each answer brings
 * the ring totals of the environments it touched to `store` (LogStore.bytes).
 */
export class LogThread implements LogSink {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private closed = false;

  constructor(private readonly file: string, private readonly store: LogStore) {
    // Compiled now, not at the first line: from a checkout that takes esbuild's service process,
    // which a Ctrl-C to the process group ends too, and the first lines come while stopping.
    workerCode();
  }

  append(records: LogRecord[], caps: RingTotals): Promise<void> {
    return this.request((id) => ({ type: 'append', id, records, caps }));
  }

  deleteEnvironment(environmentId: string): Promise<void> {
    return this.request((id) => ({ type: 'delete', id, environmentId }));
  }

  /** Lets the thread finish what it was given, then ends it. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    worker.ref();
    const exited = once(worker, 'exit');
    worker.postMessage({ type: 'close' } satisfies ToLogThread);
    const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private request(message: (id: number) => ToLogThread): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the log thread is closed'));
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Keep the process alive only while the thread holds lines for it, never once idle.
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage(message(id));
    });
  }

  private start(): Worker {
    const data: LogThreadData = { file: this.file, resolveFrom: import.meta.url };
    // execArgv: [] — the runtime's own flags (tsx's --import under the tests) are not for this thread.
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(workerCode())}`), { workerData: data, execArgv: [] });
    worker.unref();
    worker.on('message', (m: FromLogThread) => {
      if (m.type === 'ready') {
        this.store.recordTotals(m.totals);
        return;
      }
      const waiter = this.waiting.get(m.id);
      if (!waiter) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      this.store.recordTotals(m.totals);
      if (m.error === undefined) waiter.resolve();
      else waiter.reject(new Error(m.error));
    });
    let failure: Error | undefined;
    worker.on('error', (err) => { failure = err; });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      // A thread that died (its database unreadable, say) fails what it held; the next request starts another.
      const err = failure ?? new Error(`the log thread exited with code ${code}`);
      for (const waiter of this.waiting.values()) waiter.reject(err);
      this.waiting.clear();
    });
    this.worker = worker;
    return worker;
  }
}
