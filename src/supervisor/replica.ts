import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { findAliases } from '../child/aliases.ts';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from '../child/frames.ts';
import { isFromReplica, type FromReplica, type ReceiverInfo, type ToReplica } from '../child/protocol.ts';
import { LineSplitter } from '../logs/lines.ts';
import { permissionFlags } from './permissions.ts';
import { projectPathScrubber } from './scrub.ts';
import { UnaskedBudget } from './unasked-budget.ts';
import { residentBytes, statFields } from '../procfs.ts';

export interface ReplicaSpec {
  containerId: string;
  version: string;
  nodePath: string;
  /** its major: the permission model's flags are spelled per major */
  nodeMajor: number;
  childEntry: string;
  projectDir: string;
  cwd: string;
  /** a launcher that ends in `exec node …` (replica-folder.ts): spawned with its arguments before node's */
  launcher?: { command: string; args: string[] };
  env: Record<string, string>;
  memoryLimitMb: number;
  readyTimeoutMs: number;
  startupTailLines: number;
  /** an environment may opt out of the hosted runtime's forgiving rejections */
  strictRejections?: boolean;
  /**
   * Node's permission model: what the replica may read and write. Undefined: no permission
   * model (an environment that opted out for child processes or native addons).
   */
  permissions?: { read: string[]; write: string[]; addons?: boolean };
  uid?: number;
  gid?: number;
  /**
   * Boot Node and flexd's child runtime now, run the project only on `start()` (a spare,
   * pool.ts). Otherwise the project runs at once. Either way the process is spawned alike.
   */
  spare?: boolean;
}

/** What became of one task sent to a replica. */
export type Outcome =
  | { kind: 'result'; task: Record<string, unknown> }
  | { kind: 'failed'; error: { name: string; message: string; stack: string } }
  | { kind: 'died'; reason: string; outOfMemory: boolean }
  /** flexd could not put the task on the channel (too deep or too large to serialise): never sent. */
  | { kind: 'unsendable'; reason: string; tooLarge: boolean };

export type ReplicaState = 'starting' | 'ready' | 'stopping' | 'exited';

interface Pending { resolve: (o: Outcome) => void }

/**
 * One child process running one version of one environment (a "container"). It is ready
 * when it says so over its channel; until then its start races the child's exit and a deadline,
 * and a failed start reports the tail of the child's output (STYLE.md §6).
 *
 * The channel is a socket pair on the child's fd 3 carrying JSON frames, one line each
 * (src/child/frames.ts). Everything read from it is untrusted: a frame over the size limit, a
 * frame that is not JSON or a message of no known shape kills the replica (and only it).
 *
 * Events: `line` (stream, text) for each output line; `exit` (reason) once, when the child is gone.
 */
export class Replica extends EventEmitter {
  readonly containerId: string;
  readonly version: string;
  state: ReplicaState = 'starting';
  /** Set when the runtime itself stops the replica, so its exit is not a crash. */
  retiring = false;
  /** Why the runtime killed it (memory, frozen, timeout…), for the exit's log line. */
  killReason: string | undefined;
  /** Set when it died of memory: V8's heap limit, or the runtime's RSS watchdog. */
  outOfMemory = false;
  readonly ready: Promise<void>;
  readonly exited: Promise<string>;
  /** Resolves once the child runtime answers on its channel (Node has booted), rejects if it exits first. */
  readonly booted: Promise<void>;
  /** Whether the project was told to run (at once, or when a spare was taken). */
  started = false;
  readyAt = 0;
  /** The receiver its SDK would have used under `node .`, as it reported when ready (the data plane answers in its shape). */
  receiver: ReceiverInfo | undefined;
  /** Slots promised to requests that are about to dispatch (see Pool.pump). */
  reserved = 0;
  private readonly child: ChildProcess;
  private readonly channel: Socket;
  private readonly decoder = new FrameDecoder(MAX_FRAME_BYTES, true);
  /** Frames of this event-loop turn, serialised when they were sent; written together at its end. */
  private outbox: string[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly tail: string[] = [];
  private nextId = 1;
  private readonly heapMb: number;
  /** V8 printed its heap-exhaustion message (the line may have left the tail by the time the child exits). */
  private sawHeapExhaustion = false;
  private pongWaiters = new Map<number, (rss: number) => void>();
  /** Project paths out of what the replica says (scrub.ts). */
  private readonly scrub: (text: string) => string;
  /** Messages it sent unasked (a repeated ready, a late or second answer): tolerated at a bounded rate. */
  private readonly unasked = new UnaskedBudget();

  constructor(private readonly spec: ReplicaSpec) {
    super();
    this.containerId = spec.containerId;
    this.version = spec.version;
    const heapMb = Math.max(16, Math.floor(spec.memoryLimitMb * 0.75));
    this.heapMb = heapMb;
    this.scrub = projectPathScrubber(spec.projectDir, spec.childEntry);
    const nodeArgs = [
      `--max-old-space-size=${heapMb}`,
      `--unhandled-rejections=${spec.strictRejections ? 'throw' : 'warn'}`,
      ...permissionFlags(spec.permissions, spec.nodeMajor),
      spec.childEntry, spec.projectDir,
    ];
    const [command, args] = spec.launcher
      ? [spec.launcher.command, [...spec.launcher.args, spec.nodePath, ...nodeArgs]]
      : [spec.nodePath, nodeArgs];
    this.child = spawn(command, args, {
      // The launcher changes into the project folder's view itself; it starts where nothing is mounted over it.
      cwd: spec.launcher ? '/' : spec.cwd,
      env: spec.env,
      // fd 3: the channel, a socket pair of our own (not Node's 'ipc': see src/child/frames.ts).
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Its own process group, so whatever the service starts can be killed with it.
      detached: true,
      uid: spec.uid,
      gid: spec.gid,
    });
    this.child.stdout!.on('data', lineSink(this, 'stdout'));
    this.child.stderr!.on('data', lineSink(this, 'stderr'));
    this.channel = this.child.stdio[3] as Socket;
    this.channel.on('data', (chunk: Buffer) => this.onChannelData(chunk));
    this.channel.on('error', () => { /* the exit says why */ });

    this.child.once('exit', () => {
      // A process the service started dies with it. One that still holds the output pipes
      // (inherited stdio) would otherwise delay 'close' — and with it the answers to the
      // replica's requests and its replacement — for as long as it lives.
      this.signalGroup('SIGKILL');
      const timer = setTimeout(() => {
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
        this.channel.destroy();
      }, OUTPUT_DRAIN_MS);
      this.child.once('close', () => clearTimeout(timer));
    });

    this.exited = new Promise((resolve) => {
      let spawnError: Error | undefined;
      this.child.once('error', (err) => { spawnError = err; });
      this.child.once('close', (code, signal) => {
        let reason = spawnError ? `could not start: ${spawnError.message}`
          : signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (this.killReason === undefined && this.exhaustedHeap(code, signal)) {
          this.outOfMemory = true;
          reason = `ran out of memory: the JavaScript heap reached its limit of ${this.heapMb} MB (${reason})`;
        }
        this.state = 'exited';
        for (const [, p] of this.pending) p.resolve({ kind: 'died', reason: this.killReason ?? reason, outOfMemory: this.outOfMemory });
        this.pending.clear();
        this.emit('drained');
        this.emit('exit', this.killReason ? `${reason} (${this.killReason})` : reason);
        resolve(reason);
      });
    });

    this.ready = new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // The deadline counts from `start`: a spare may wait for hours before it is taken.
      this.once('start', () => {
        timer = setTimeout(() => {
          reject(new StartError(`did not report ready within ${spec.readyTimeoutMs} ms`, this.outputTail()));
          this.kill('never reported ready');
        }, spec.readyTimeoutMs);
      });
      this.once('ready', () => { clearTimeout(timer); resolve(); });
      this.exited.then((reason) => {
        clearTimeout(timer);
        reject(new StartError(`exited before it was ready: ${reason}`, this.outputTail()));
      });
    });
    this.ready.catch(() => {});
    // A spare says it has booted by answering a ping; a replica started at once by being ready.
    this.booted = spec.spare ? new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      this.pongWaiters.set(id, () => { this.pongWaiters.delete(id); resolve(); });
      this.send(encodeFrame({ t: 'ping', id } satisfies ToReplica));
      this.exited.then((reason) => {
        this.pongWaiters.delete(id);
        reject(new StartError(`exited before it booted: ${reason}`, this.outputTail()));
      });
    }) : this.ready;
    this.booted.catch(() => {});
    if (!spec.spare) this.start();
  }

  /** Runs the project (once): at construction, or when the pool takes this spare. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.emit('start');
    this.send(encodeFrame({ t: 'start' } satisfies ToReplica));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** The last lines the child wrote, to explain a failed start. */
  outputTail(): string {
    return this.tail.join('\n');
  }

  /**
   * Stops reading the replica's output, or reads on. Its stdout and stderr are blocking pipes
   * (child/main.ts), so a replica whose output is held waits at its next write once the pipe fills.
   */
  holdOutput(hold: boolean): void {
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (hold) stream?.pause();
      else stream?.resume();
    }
  }

  /** @internal fed by the line sink */
  recordLine(stream: 'stdout' | 'stderr', raw: string): void {
    const line = this.scrub(raw);
    if (stream === 'stderr' && HEAP_EXHAUSTED.test(line)) this.sawHeapExhaustion = true;
    this.tail.push(line);
    if (this.tail.length > this.spec.startupTailLines) this.tail.shift();
    this.emit('line', stream, line);
  }

  /**
   * Sends a task; resolves when it completes, fails, or the replica dies. Timeouts are the caller's.
   * A task that cannot be serialised (nesting deeper than the stack, over the frame size) is
   * never sent: it resolves `unsendable` at once and the replica is untouched.
   */
  dispatch(task: Record<string, unknown>): { id: number; outcome: Promise<Outcome> } {
    const id = this.nextId++;
    const outcome = new Promise<Outcome>((resolve) => {
      if (this.state === 'exited' || !this.channel.writable) {
        resolve({ kind: 'died', reason: 'the replica is gone', outOfMemory: false });
        return;
      }
      const aliases = findAliases(task);
      let frame: string;
      try {
        frame = encodeFrame(aliases.length > 0 ? { t: 'task', id, task, aliases } : { t: 'task', id, task });
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        resolve({ kind: 'unsendable', reason: err.message, tooLarge: err.reason === 'too-large' });
        return;
      }
      this.pending.set(id, { resolve });
      this.send(frame);
    });
    return { id, outcome };
  }

  /** Forget a task whose caller gave up (timeout): a late result is then dropped. */
  abandon(id: number): boolean {
    return this.settle(id);
  }

  /** Resolves once no task is in flight (or the replica is gone), or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0 || this.state === 'exited') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('drained', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on('drained', done);
    });
  }

  /** Liveness: resolves with the replica's RSS, or rejects when it does not answer in time. */
  ping(timeoutMs: number): Promise<number> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pongWaiters.delete(id); reject(new Error(`no answer to a ping within ${timeoutMs} ms`)); }, timeoutMs);
      this.pongWaiters.set(id, (rss) => { clearTimeout(timer); resolve(rss); });
      this.send(encodeFrame({ t: 'ping', id } satisfies ToReplica));
    });
  }

  /** Resident memory in bytes, read from /proc (also works for a frozen child); undefined if unknown. */
  async rssBytes(): Promise<number | undefined> {
    if (this.child.pid === undefined || this.state === 'exited') return undefined;
    return residentBytes(this.child.pid);
  }

  /** The kernel's state letter for the process (R running, S sleeping, T stopped…), from /proc; undefined if unknown. */
  async processState(): Promise<string | undefined> {
    if (this.child.pid === undefined || this.state === 'exited') return undefined;
    return statFields(this.child.pid)?.[0];
  }

  /** Two-phase stop: SIGTERM, then SIGKILL after the grace (a busy loop ignores SIGTERM). */
  async stop(graceMs: number): Promise<void> {
    this.retiring = true;
    if (this.state === 'exited') return;
    this.state = 'stopping';
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Immediate SIGKILL, with the reason kept for the exit's log line (and the answers to its requests). */
  kill(reason: string, { outOfMemory = false }: { outOfMemory?: boolean } = {}): void {
    if (this.killReason === undefined) {
      this.killReason = reason;
      this.outOfMemory = outOfMemory;
    }
    this.signal('SIGKILL');
  }

  /**
   * V8 at --max-old-space-size prints "FATAL ERROR: Reached heap limit Allocation failed -
   * JavaScript heap out of memory" and aborts: SIGABRT, or exit code 134 when a shell relays it.
   */
  private exhaustedHeap(code: number | null, signal: NodeJS.Signals | null): boolean {
    return this.sawHeapExhaustion && (signal === 'SIGABRT' || code === 134);
  }

  /** SIGTERM goes to the replica alone (the SDK drains on it); SIGKILL to its whole process group. */
  private signal(sig: NodeJS.Signals): void {
    if (sig === 'SIGKILL' && this.signalGroup(sig)) return;
    try { this.child.kill(sig); } catch { /* already gone */ }
  }

  private signalGroup(sig: NodeJS.Signals): boolean {
    if (this.child.pid === undefined) return false;
    try {
      process.kill(-this.child.pid, sig);
      return true;
    } catch {
      return false; // the group is empty: everyone in it is gone
    }
  }

  /**
   * Queues a frame serialised by the caller (so what was sent never changes afterwards). The
   * frames of one event-loop turn leave together, as one write: each write wakes the replica,
   * and under load that wake-up costs more than the message.
   */
  private send(frame: string): void {
    if (this.outbox.push(frame) === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const frames = this.outbox;
    this.outbox = [];
    const channel = this.channel;
    if (frames.length === 0 || channel.destroyed || !channel.writable) return;
    channel.write(frames.length === 1 ? frames[0] : frames.join(''), (err) => { if (err) this.kill(`channel write failed: ${err.message}`); });
  }

  private onChannelData(chunk: Buffer): void {
    if (this.killReason !== undefined) return; // broken already: nothing it says counts
    let messages: unknown[];
    try {
      messages = this.decoder.push(chunk);
    } catch (err) {
      this.breach((err as Error).message);
      return;
    }
    for (const m of messages) {
      if (this.killReason !== undefined) return;
      this.onMessage(m);
    }
  }

  /**
   * The replica broke the channel's protocol (its code can write anything to fd 3): nothing it
   * sends can be trusted any more. It is killed; its requests get error answers and the pool
   * replaces it like any crashed replica. flexd and every other environment carry on.
   */
  private breach(what: string): void {
    this.recordLine('stderr', `flexd: the replica broke the channel protocol (${what}); killing it`);
    this.kill(`broke the channel protocol: ${what}`);
    this.channel.destroy();
  }

  /** Removes task `id` from the ones in flight; says so when that was the last. */
  private settle(id: number): boolean {
    const had = this.pending.delete(id);
    if (had && this.pending.size === 0) this.emit('drained');
    return had;
  }

  private onMessage(m: unknown): void {
    if (!isFromReplica(m)) {
      const type = typeof m === 'object' && m !== null ? (m as { t?: unknown }).t : undefined;
      this.breach(`a message of unknown shape${typeof type === 'string' ? ` (type "${type.slice(0, 40)}")` : ''}`);
      return;
    }
    const msg: FromReplica = m;
    switch (msg.t) {
      case 'ready':
        if (this.state === 'starting') {
          this.state = 'ready';
          this.readyAt = Date.now();
          this.receiver = msg.receiver;
          this.emit('ready');
        } else this.spendUnasked('ready');
        break;
      case 'result':
      case 'failed': {
        const p = this.pending.get(msg.id);
        if (!p) {
          // A late answer (its request timed out), a second one, or a forged one: dropped.
          this.emit('late', msg.id);
          this.spendUnasked(msg.t);
          break;
        }
        this.settle(msg.id);
        p.resolve(msg.t === 'result' ? { kind: 'result', task: msg.task }
          : { kind: 'failed', error: { name: msg.error.name, message: this.scrub(msg.error.message), stack: this.scrub(msg.error.stack) } });
        break;
      }
      case 'pong': {
        const waiter = this.pongWaiters.get(msg.id);
        if (!waiter) {
          this.spendUnasked('pong');
          break;
        }
        waiter(msg.rss);
        this.pongWaiters.delete(msg.id);
        break;
      }
    }
  }

  /** A message it was not asked for: fine now and then (a handler that throws after completing), a breach as a flood. */
  private spendUnasked(what: string): void {
    if (!this.unasked.spend(Date.now())) this.breach(`a flood of messages it was not asked for (${what})`);
  }
}

const HEAP_EXHAUSTED = /heap out of memory|Reached heap limit/i;

/**
 * After a replica exits, how long its output may still drain before the pipes are closed on
 * our side: the last lines arrive within milliseconds; only a leftover process holding the
 * pipes takes longer, and its output is not the replica's.
 */
const OUTPUT_DRAIN_MS = 200;

/** A replica that could not start; `tail` holds its last output lines. */
export class StartError extends Error {
  constructor(message: string, readonly tail: string) {
    super(message);
    this.name = 'StartError';
  }
}

function lineSink(replica: Replica, stream: 'stdout' | 'stderr'): (chunk: Buffer) => void {
  const splitter = new LineSplitter((line) => replica.recordLine(stream, line));
  return (chunk) => splitter.push(chunk);
}
