/**
 * Objects the receiver's task holds twice must still be one object after the task crosses the
 * IPC channel as JSON (a handler writing tempObjectStore through one path is seen through the other).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { findAliases, restoreAliases } from '../../src/child/aliases.ts';
import { routeRequest } from '../../src/dataplane/task.ts';

/** Every pair of object-valued paths (to depth 4) that hold the same object. */
function sharedPairs(root: unknown): string[] {
  const seen = new Map<object, string>();
  const pairs: string[] = [];
  const walk = (value: unknown, path: string, depth: number) => {
    if (typeof value !== 'object' || value === null || depth > 4) return;
    const first = seen.get(value);
    if (first) { pairs.push(`${first} = ${path}`); return; }
    seen.set(value, path);
    for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`, depth + 1);
  };
  walk(root, '', 0);
  return pairs.sort();
}

const BODIES = [
  { tempObjectStore: { k: 'v' }, query: { a: '1' }, response: { body: { r: 1 }, headers: { h: 'x' }, status: 201 } },
  { body: { x: 1 }, tempObjectStore: { k: 'v' }, response: { body: { r: 1 } } },
  { name: 'plain', response: { headers: { h: 'y' } } },
];

const taskOf = (path: string, body: unknown) => {
  const route = routeRequest({ method: 'POST', path, rawQuery: '', header: () => undefined, body: structuredClone(body) });
  assert.equal(route.kind, 'task');
  return route.kind === 'task' ? route.task : undefined;
};

// Only the tasks that do hold an object twice (by this file's own walk, not by findAliases): for
// one that holds nothing twice, `[]` equals `[]` whatever restoreAliases does.
const CASES = BODIES.flatMap((body, i) => ['/_flexFunctions/fn', '/widgets', '/_auth/login']
  .filter((path) => sharedPairs(taskOf(path, body)).length > 0).map((path) => ({ i, path, body })));

it('aliases: the generated cases cover every route kind that shares objects', () => {
  assert.deepEqual([...new Set(CASES.map((c) => c.path))].sort(), ['/_flexFunctions/fn', '/widgets']);
});

for (const { i, path, body } of CASES) {
  it(`aliases: a ${path} task from body #${i + 1} keeps its shared objects across a JSON round trip`, () => {
    const task = taskOf(path, body);
    const before = sharedPairs(task);
    assert.ok(before.length > 0);
    const copy = JSON.parse(JSON.stringify(task));
    assert.deepEqual(sharedPairs(copy), [], 'JSON alone loses them');
    restoreAliases(copy, findAliases(task));
    assert.deepEqual(sharedPairs(copy), before);
  });
}

it('aliases: a functions body without a body key shares tempObjectStore, as the receiver builds it', () => {
  const route = routeRequest({ method: 'POST', path: '/_flexFunctions/fn', rawQuery: '', header: () => undefined, body: { tempObjectStore: { k: 'v' } } });
  assert.equal(route.kind, 'task');
  if (route.kind === 'task') assert.ok(findAliases(route.task).length > 0);
});
