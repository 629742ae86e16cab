/**
 * flexd's stand-in for `kinvey-code-task-runner` (DESIGN.md, decision 2). The SDK calls
 * `start(options, onTask, onStarted)`; instead of listening on HTTP or TCP, tasks arrive over
 * flexd's channel (channel.ts) and completed tasks go back the same way. The SDK's own dispatch and
 * completion handlers run unchanged.
 *
 * Unlike the SDK's receivers, a handler that throws (synchronously, later in a callback, or
 * by rejecting its promise) gets an error answer for its own task and the replica stays up:
 * each task runs in an AsyncLocalStorage context, so an uncaught error can be traced to it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { answerPart } from './answer-part.ts';
import { requestBodyLimit } from './body-limit.ts';
import { send } from './channel.ts';
import { FrameError } from './frames.ts';
import type { InstalledTaskRunner } from './task-runner.ts';
import { logCompletion, openOutputLog } from './output-log.ts';

type TaskCallback = (task: Record<string, unknown>, complete: (err: unknown, result?: Record<string, unknown>) => unknown) => void;

const taskContext = new AsyncLocalStorage<number>();
const open = new Set<number>();
let onTask: TaskCallback | undefined;
let installed: InstalledTaskRunner | null = null;

/** Which task runner the SDK would have loaded (load-service.ts tells us before `start`). */
export function describeInstalled(taskRunner: InstalledTaskRunner | null): void {
  installed = taskRunner;
}

function invalid(message: string, description: string, debug: string): Error {
  return Object.assign(new Error(message), { description, debug });
}

/** The `start` of kinvey-code-task-runner: same argument checks, same error texts. */
export function start(options: unknown, taskReceived: TaskCallback, started: (err?: unknown) => void): void {
  if (!taskReceived || !started) {
    throw invalid('Missing Arguments', 'Cannot start Task Receiver - missing arguments',
      'Missing arguments - initializing a task receiver requires a taskReceived callback function and a receiver started callback function.');
  }
  if (typeof taskReceived !== 'function' || typeof started !== 'function') {
    throw invalid('Invalid Argument Type', 'Cannot start Task Receiver - invalid arguments',
      'Invalid arguments - taskReceivedCallback and receiverStartedCallback must be functions.');
  }
  onTask = taskReceived;
  openOutputLog();
  const limitOption = typeof options === 'object' && options !== null ? (options as { requestBodyLimit?: unknown }).requestBodyLimit : undefined;
  const receiver = { ...(installed ? { version: installed.version } : {}), requestBodyLimit: requestBodyLimit(limitOption) };
  // As the real receivers do, report started from a later tick: the service callback registers its handlers in it.
  setImmediate(() => {
    started();
    send({ t: 'ready', receiver });
  });
}

/** The SDK calls this on SIGTERM before it exits; flexd drains requests before it signals. */
export function stop(callback: (err?: unknown) => void): void {
  setImmediate(() => callback());
}

/** Runs one task through the SDK. Called by the child's message loop. */
export function runTask(id: number, task: Record<string, unknown>): void {
  if (!onTask) {
    fail(id, new Error('the service has not started its Flex SDK receiver'));
    return;
  }
  open.add(id);
  taskContext.run(id, () => {
    try {
      onTask!(task, (err, result) => {
        // The first completion answers; it is serialised here, so a second completion or a
        // change to the response afterwards cannot alter what was sent.
        if (!open.delete(id)) return 'Connection ended by client.';
        logCompletion(err, result);
        try {
          // Only what flexd's answer reads crosses the channel (answer-part.ts).
          send({ t: 'result', id, task: answerPart(result ?? task) as Record<string, unknown> });
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
          const name = err.reason === 'too-large' ? 'AnswerTooLarge' : 'AnswerNotSerialisable';
          send({ t: 'failed', id, error: { name, message: `flexd cannot pass this answer on: ${err.message}`, stack: '' } });
        }
        return undefined;
      });
    } catch (err) {
      fail(id, err);
    }
  });
}

/** Answers task `id` with an error, once. */
function fail(id: number, err: unknown): void {
  open.delete(id);
  const e = err instanceof Error ? err : new Error(String(err));
  // A thrown value's name or message may be anything (a getter, a Symbol): send strings.
  send({ t: 'failed', id, error: { name: text(e.name, 'Error'), message: text(e.message, ''), stack: text(e.stack, '') } });
}

function text(value: unknown, fallback: string): string {
  try {
    return typeof value === 'string' ? value.slice(0, 64 * 1024) : value === undefined ? fallback : String(value).slice(0, 64 * 1024);
  } catch {
    return fallback;
  }
}

/**
 * An error nobody caught: when it belongs to a task still open, that task gets the error
 * answer and the replica keeps serving. Returns false when it belongs to no open task.
 */
export function failCurrentTask(err: unknown): boolean {
  const id = taskContext.getStore();
  if (id === undefined || !open.has(id)) return false;
  fail(id, err);
  return true;
}
