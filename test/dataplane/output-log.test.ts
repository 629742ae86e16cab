/**
 * The replica's `output.log` (src/child/output-log.ts): the lines kinvey-code-task-runner's HTTP
 * receiver writes for each answer. Whether a successful answer is logged follows the runner's own
 * test, `JSON.parse(result.response.body)` failing; the oracle here is that very expression, for
 * bodies of every kind a service can set (objects, JSON and other strings, numbers, arrays,
 * objects with their own toString or none). The working directory differential
 * (test/layout/working-dir.test.ts) compares the line counts with `node .`'s own file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { logCompletion, mayBeJson, openOutputLog } from '../../src/child/output-log.ts';
// npm test: own process (the child's output log is opened in the process's working directory, which the file changes).

let dir: string;
let read = 0;
/** The lines written since the last call. */
function newLines(): string[] {
  const text = readFileSync(join(dir, 'output.log'), 'utf8');
  const fresh = text.slice(read);
  read = text.length;
  return fresh.split('\n').filter(Boolean);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'flexd-output-log-'));
  process.chdir(dir);
  openOutputLog();
});
after(() => {
  process.chdir(tmpdir());
  rmSync(dir, { recursive: true, force: true });
});

const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(DEBUG|ERROR)\] /;

test('output.log: a successful answer is logged exactly when the task runner\'s JSON.parse of its body fails', () => {
  const bodies: unknown[] = [
    { pong: true }, {}, '{"a":1}', 'hello', '', '  7 ', 5, true, null, [1], [1, 2], [], undefined,
    Object.create(null), { toString: () => '{"b":2}' }, { toString: () => { throw new Error('no'); } },
    [{ a: 1 }, { b: 2 }], [[]], [[1], [2]], ' [ {"a":1} ] ', '[object Object]', 'null', '-1', '"s"',
  ];
  for (const body of bodies) {
    let runnerLogs: boolean;
    try {
      JSON.parse(body as string);
      runnerLogs = false;
    } catch {
      runnerLogs = true;
    }
    logCompletion(null, { response: { statusCode: 200, body } });
    const lines = newLines();
    if (!runnerLogs) {
      assert.deepEqual(lines, [], `body ${String(typeof body)} ${JSON.stringify(body)}: the runner logs nothing`);
      continue;
    }
    assert.equal(lines.length, 2, `body ${JSON.stringify(body)}: two lines`);
    assert.match(lines[0]!, STAMP);
    assert.ok(lines[0]!.endsWith('[DEBUG] Responding with success'), lines[0]);
    assert.ok(lines[1]!.endsWith('[DEBUG] [object Object]'), lines[1]);
  }
});

test('output.log: an answer whose response cannot be read is logged as the runner\'s failed parse is', () => {
  const result = { get response(): unknown { throw new Error('a getter that throws'); } };
  logCompletion(null, result);
  assert.equal(newLines().length, 2);
});

test('output.log: an error is logged parsed when it is JSON, as given otherwise; no answer at all is an InternalError', () => {
  logCompletion('{"error":"NotFound"}', undefined);
  const parsed = newLines();
  assert.ok(parsed[0]!.endsWith('[DEBUG] Responding with error'));
  assert.ok(parsed[1]!.endsWith('[ERROR] [object Object]'));
  logCompletion('plain words', undefined);
  assert.ok(newLines()[1]!.endsWith('[ERROR] plain words'));
  logCompletion(null, undefined);
  const none = newLines();
  assert.ok(none[0]!.endsWith('[DEBUG] Responding with error - no result or error'));
  assert.ok(none[1]!.endsWith('[ERROR] [object Object]'));
  // Both lines of one answer carry one time.
  assert.equal(none[0]!.slice(0, 24), none[1]!.slice(0, 24));
});

test('output.log: the quick "cannot be JSON" test never refuses what JSON.parse accepts', () => {
  // Every string of up to three characters from JSON's alphabet (and a few others), with the
  // whitespace JSON allows and the one it does not (U+00A0), against JSON.parse itself.
  const alphabet = ['[', ']', '{', '}', '"', '1', '-', 't', 'f', 'n', 'o', ' ', '\n', '\t', '\r', '\u00a0', ',', ':', 'e', '.', 'x'];
  let strings = [''];
  const all: string[] = [];
  for (let length = 1; length <= 3; length++) {
    strings = strings.flatMap((s) => alphabet.map((c) => s + c));
    all.push(...strings);
  }
  all.push('true', 'false', 'null', '[true]', '[ null ]', '\t[\n"a"]', '[object Object]', '[object Object],[object Object]', 'nope', '{"a":[1]}');
  let accepted = 0;
  for (const text of all) {
    let parses = true;
    try { JSON.parse(text); } catch { parses = false; }
    if (parses) {
      accepted++;
      assert.equal(mayBeJson(text), true, JSON.stringify(text));
    }
  }
  assert.ok(accepted > 50, `${accepted} strings parse`);
  for (const text of ['[object Object]', '[object Object],[object Object]', 'undefined', '', '  ', 'hello', '[ x]']) {
    assert.equal(mayBeJson(text), false, JSON.stringify(text));
  }
});
