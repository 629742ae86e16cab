/**
 * The part of a completed task that flexd's answer is made of (src/dataplane/answer.ts reads
 * nothing else): its `taskType`, its `response`, and by task type its `request` (functions and
 * business logic echo `{request, response}`) or its `discoveryObjects` (service discovery).
 *
 * The replica sends only this part back. The rest of a task (the request's headers, the app
 * metadata, the auth key...) was serialised by the replica and parsed by flexd on every answer
 * only to be dropped: for a FlexData `GET` that was most of the result frame. Like `node .`,
 * whose receiver serialises only the body it sends, a value the answer never shows (a cycle or
 * a BigInt a handler left in `request` of a data task) no longer fails the answer.
 *
 * flexd still checks what arrives as it checks any message from a replica: the part is a
 * completed task for answer.ts, which validates every field it reads.
 */

/** The task types whose answer echoes `request` (answer.ts `bodyFor`). */
const ECHOES_REQUEST = new Set(['functions', 'businessLogic']);

const isOwnEnumerable = (o: object, key: string) => Object.prototype.propertyIsEnumerable.call(o, key);

/**
 * The fields of `completed` the answer reads, taken as JSON.stringify would take them (own
 * enumerable properties). Anything but a plain record (an array, a class instance, an object
 * with a `toJSON`, one whose fields throw when read) is returned whole and sent as before, so
 * flexd refuses or serialises it exactly as it did.
 *
 * @example
 * answerPart({ taskType: 'data', appMetadata: {…}, request: {…}, response: { statusCode: 200, body: [] } })
 * // { taskType: 'data', response: { statusCode: 200, body: [] } }
 */
export function answerPart(completed: unknown): unknown {
  if (typeof completed !== 'object' || completed === null || Array.isArray(completed)) return completed;
  const prototype = Object.getPrototypeOf(completed);
  if (prototype !== Object.prototype && prototype !== null) return completed;
  try {
    const task = completed as Record<string, unknown>;
    if (typeof task.toJSON === 'function') return completed;
    const part: Record<string, unknown> = {};
    const taskType = isOwnEnumerable(task, 'taskType') ? task.taskType : undefined;
    if (taskType !== undefined) part.taskType = taskType;
    if (isOwnEnumerable(task, 'response')) part.response = task.response;
    const extra = typeof taskType === 'string' && ECHOES_REQUEST.has(taskType) ? 'request'
      : taskType === 'serviceDiscovery' ? 'discoveryObjects' : undefined;
    if (extra !== undefined && isOwnEnumerable(task, extra)) part[extra] = task[extra];
    return part;
  } catch {
    return completed; // a getter that throws: serialising it whole fails as it did
  }
}
