/**
 * Projects a completed Flex task to the HTTP answer the SDK's own receiver sends
 * (`kinvey-code-task-runner@2.4.0` `httpReceiver.js#sendTask`, through Express 4's
 * `res.status(...).json(...)`; the same in every version but for receiver-dialect.ts's notes).
 */
import { jsonOverBounds } from '../child/json-bounds.ts';
import { CURRENT_DIALECT, type ReceiverDialect } from './receiver-dialect.ts';
import type { FlexTask } from './types.ts';

export interface Answer {
  status: number;
  /** The JSON value to send; `undefined` means an empty body (Express's `res.json(undefined)`, or 204/304). */
  body: unknown;
  /** Lower-case names: `content-type` as Express sets it (none for 204/304), and `x-kinvey-request-continue` when known. */
  headers: Record<string, string>;
}

const JSON_UTF8 = 'application/json; charset=utf-8';

/** The receiver's answer when the SDK gives back no task. */
const INTERNAL_ERROR = {
  error: 'InternalError',
  description: 'Bad Request: An Internal Error occurred',
  debug: '',
};

function internalError(debug = ''): Answer {
  return { status: 500, body: { ...INTERNAL_ERROR, debug }, headers: { 'content-type': JSON_UTF8 } };
}

/**
 * The receiver replaces `response.body` by `JSON.parse(response.body)` when that does not
 * throw. `JSON.parse` first converts its argument to a string, so this also turns `[1]`
 * into `1` and `[[true]]` into `true`; an object (`"[object Object]"`) stays as it is.
 */
function parsedResponse(response: Record<string, any>): Record<string, any> {
  // After JSON over IPC an object body is plain: String() of it (or of an array of them) is
  // "[object Object]", which JSON.parse always refuses. Skip the throw, the costliest part.
  if (cannotParse(response.body)) return response;
  try {
    // Bounded as a channel frame is (json-bounds.ts): past the bounds the string is sent as it is.
    const text = String(response.body);
    if (jsonOverBounds(text) !== undefined) return response;
    return { ...response, body: JSON.parse(text) };
  } catch {
    return response;
  }
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function cannotParse(body: unknown): boolean {
  return isPlainObject(body) || (Array.isArray(body) && body.every(isPlainObject));
}

function bodyFor(task: FlexTask, response: Record<string, any>): unknown {
  switch (task.taskType) {
    case 'data':
    case 'dataLink':
      return response.body;
    case 'functions':
    case 'businessLogic':
      return { request: task.request, response };
    case 'auth':
      return response.body;
    case 'serviceDiscovery':
      return task.discoveryObjects;
    default:
      return {};
  }
}

/**
 * The HTTP answer for a completed task, as the receiver's `sendTask` projects it:
 * status `response.statusCode || 200`; body `response.body` (data, auth), `{request, response}`
 * (functions), `discoveryObjects` (discovery); a string `response.body` is JSON-parsed when
 * it can be. No task gives `500 InternalError`.
 *
 * Added by flexd (SPEC §4): `x-kinvey-request-continue` from a boolean `response.continue`.
 * Where the receiver would crash or answer an HTML page (no `response` object, a status Node
 * refuses), flexd answers `500 InternalError` instead.
 *
 * @example
 * answerFromTask({ taskType: 'data', response: { statusCode: 201, body: '{"a":1}', continue: false } })
 * // { status: 201, body: { a: 1 }, headers: { 'content-type': 'application/json; charset=utf-8',
 * //   'x-kinvey-request-continue': 'false' } }
 */
export function answerFromTask(task: FlexTask | null | undefined, dialect: ReceiverDialect = CURRENT_DIALECT): Answer {
  if (!task) return internalError();
  if (typeof task.response !== 'object' || task.response === null) {
    return internalError('The completed task has no response object');
  }
  const response = parsedResponse(task.response);

  // Node's writeHead coerces with `| 0` and refuses anything outside 100-999.
  const status = (response.statusCode || 200) | 0;
  if (status < 100 || status > 999) {
    return internalError(`Invalid status code: ${String(response.statusCode)}`);
  }

  const headers: Record<string, string> = {};
  if (typeof response.continue === 'boolean') headers['x-kinvey-request-continue'] = String(response.continue);

  // Express drops the body and its headers for 204 and 304.
  if (status === 204 || status === 304) return { status, body: undefined, headers };

  // `res.json(undefined)` (a completed task without a body) sends no bytes; Express 4.16 still says utf-8.
  const body = bodyFor(task, response);
  headers['content-type'] = body === undefined ? dialect.emptyBodyContentType : JSON_UTF8;
  return { status, body, headers };
}

/** The bytes of an answer's body, as `res.json` writes them. */
export function answerBodyText(answer: Answer): string {
  return answer.body === undefined ? '' : JSON.stringify(answer.body);
}
