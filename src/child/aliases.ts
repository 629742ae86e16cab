/**
 * JSON cannot say "these two fields are the same object", but the SDK's HTTP receiver
 * builds tasks where they are: a functions body without a `body` key becomes `request.body`
 * whole, so `request.body.tempObjectStore` *is* `request.tempObjectStore`, and a handler's
 * write through one shows through the other. The parent lists such shared objects by path;
 * the replica re-links them after the task crosses the IPC channel.
 */
export type Path = (string | number)[];
export type Alias = [path: Path, sameAs: Path];

/** Every object reached twice in `root`, as [second path, first path]. */
export function findAliases(root: unknown): Alias[] {
  const seen = new Map<object, Path>();
  const aliases: Alias[] = [];
  const walk = (value: unknown, path: Path) => {
    if (typeof value !== 'object' || value === null) return;
    const first = seen.get(value);
    if (first) {
      aliases.push([path, first]);
      return;
    }
    seen.set(value, path);
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else for (const key of Object.keys(value)) walk((value as Record<string, unknown>)[key], [...path, key]);
  };
  walk(root, []);
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
