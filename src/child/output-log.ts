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

/**
 * Appends the lines of one answer in one write (one system call an answer, not one a line):
 * the task runner's logger stamps each line with the time and its level.
 */
function write(...entries: Array<[type: string, message: unknown]>): void {
  if (fd === undefined) return;
  const at = new Date().toISOString();
  try {
    let text = '';
    for (const [type, message] of entries) text += `${at} [${type}] ${String(message)}\n`;
    writeSync(fd, text);
  } catch {
    fd = undefined;
  }
}

/**
 * Whether `JSON.parse(result.response.body)` would succeed, as the task runner tries it on an
 * answer. JSON.parse reads the body's string form; a plain object's, `[object Object]`, and an
 * array of them, `[object Object],[object Object]` (the usual answers: the SDK passes the body
 * as it was set), never parse, and are told apart without the SyntaxError, whose stack capture
 * cost more than the rest of an answer's logging (10 % of a replica's CPU on the FlexData bench).
 */
function bodyParsesAsJson(result: Record<string, unknown>): boolean {
  let text: string;
  try {
    const value = (result.response as { body?: unknown } | undefined)?.body;
    text = typeof value === 'string' ? value : String(value);
  } catch {
    return false; // a getter or toString that throws: the task runner's parse throws the same
  }
  if (!mayBeJson(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** JSON's insignificant whitespace. */
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
/** What a JSON value can start with: `{ [ "`, a digit, `-`, or `t f n` (true, false, null). */
const VALUE_START = /[{["\d\-tfn]/;

/**
 * False when `text` cannot be JSON, judged by its first value character and, in an array, the
 * one after the `[` (`[object Object]` fails there). True means "maybe": JSON.parse decides.
 *
 * @example mayBeJson('[object Object]') // false
 * @example mayBeJson(' [ 1 ]')          // true
 */
export function mayBeJson(text: string): boolean {
  let i = skipSpace(text, 0);
  if (i === text.length || !VALUE_START.test(text[i])) return false;
  if (text[i] !== '[') return true;
  i = skipSpace(text, i + 1);
  return i < text.length && (text[i] === ']' || VALUE_START.test(text[i]));
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && SPACE.has(text.charCodeAt(i))) i++;
  return i;
}

/** The lines the HTTP receiver's sendTask writes for one completed task. */
export function logCompletion(err: unknown, result: Record<string, unknown> | undefined): void {
  if (fd === undefined) return;
  if (err) {
    let errorResponse: unknown = err;
    try {
      errorResponse = JSON.parse(err as string);
    } catch { /* as given */ }
    write(['DEBUG', 'Responding with error'], ['ERROR', errorResponse]);
  } else if (result) {
    if (!bodyParsesAsJson(result)) {
      write(['DEBUG', 'Responding with success'], ['DEBUG', result]);
    }
  } else {
    write(['DEBUG', 'Responding with error - no result or error'], ['ERROR', { error: 'InternalError' }]);
  }
}
