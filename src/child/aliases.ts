/**
 * JSON cannot say "these two fields are the same object", but the SDK's HTTP receiver
 * builds tasks where they are: a functions body without a `body` key becomes `request.body`
 * whole, so `request.body.tempObjectStore` *is* `request.tempObjectStore`, and a handler's
 * write through one shows through the other. The parent lists such shared objects by path;
 * the replica re-links them after the task crosses the IPC channel.
 */
export type Path = (string | number)[];
export type Alias = [path: Path, sameAs: Path];

/**
 * Where the receiver's task can hold one object twice: the request body used whole as
 * `request.body` (a functions body without a `body` key, any data body) shares its
 * `tempObjectStore`, `query` and `response.{body,headers}` with the task's own fields.
 * JSON.parse never shares objects, so nothing deeper can be shared. Checking these few paths
 * keeps the cost flat: walking a 25 MiB body would stall every environment.
 */
const CANDIDATES: readonly Path[] = [
  ['request', 'body'],
  ['request', 'body', 'body'],
  ['request', 'body', 'tempObjectStore'],
  ['request', 'body', 'query'],
  ['request', 'body', 'response'],
  ['request', 'body', 'response', 'body'],
  ['request', 'body', 'response', 'headers'],
  ['request', 'tempObjectStore'],
  ['request', 'query'],
  ['request', 'params'],
  ['response'],
  ['response', 'body'],
  ['response', 'headers'],
];

/** The candidate paths of `task` that hold an object already held by an earlier one, as [path, earlier path]. */
export function findAliases(task: unknown): Alias[] {
  const seen = new Map<object, Path>();
  const aliases: Alias[] = [];
  for (const path of CANDIDATES) {
    const value = get(task, path);
    if (typeof value !== 'object' || value === null) continue;
    const first = seen.get(value);
    if (first) aliases.push([path, first]);
    else seen.set(value, path);
  }
  return aliases;
}

/** Makes each aliased path point at the same object as its original again. */
export function restoreAliases(root: unknown, aliases: readonly Alias[]): void {
  for (const [path, sameAs] of aliases) {
    if (path.length === 0) continue;
    const target = get(root, sameAs);
    const parent = get(root, path.slice(0, -1));
    if (typeof parent === 'object' && parent !== null && target !== undefined) {
      (parent as Record<string | number, unknown>)[path[path.length - 1]] = target;
    }
  }
}

function get(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}
