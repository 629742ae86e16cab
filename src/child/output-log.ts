/**
 * The `output.log` that kinvey-code-task-runner's logger keeps in the working directory: its
 * receivers open it (append) when they start, and the HTTP receiver — the one `node .` runs —
 * writes two lines for each answer. The replica's working directory is its project folder (its
 * own view of it: src/supervisor/replica-folder.ts), so the file lands where `node .` leaves it,
 * and goes with the replica.
 */
import { openSync, writeSync } from 'node:fs';

/** The file, opened once; written synchronously, so the lines of an answer are there before it leaves. */
let fd: number | undefined;

/** Opens `./output.log` for appending, as the task runner does when its receiver starts. */
export function openOutputLog(): void {
  if (fd !== undefined) return;
  try {
    fd = openSync('output.log', 'a');
  } catch {
    // A folder the service made read-only: the real logger's stream fails unheard too.
  }
}

function line(type: string, message: unknown): void {
  if (fd === undefined) return;
  try {
    writeSync(fd, `${new Date().toISOString()} [${type}] ${String(message)}\n`);
  } catch {
    fd = undefined;
  }
}

/** The lines the HTTP receiver's sendTask writes for one completed task. */
export function logCompletion(err: unknown, result: Record<string, unknown> | undefined): void {
  if (fd === undefined) return;
  if (err) {
    let errorResponse: unknown = err;
    try {
      errorResponse = JSON.parse(err as string);
    } catch { /* as given */ }
    line('DEBUG', 'Responding with error');
    line('ERROR', errorResponse);
  } else if (result) {
    try {
      JSON.parse((result.response as { body?: unknown } | undefined)?.body as string);
    } catch {
      line('DEBUG', 'Responding with success');
      line('DEBUG', result);
    }
  } else {
    line('DEBUG', 'Responding with error - no result or error');
    line('ERROR', { error: 'InternalError' });
  }
}
