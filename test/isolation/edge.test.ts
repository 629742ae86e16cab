/**
 * Issue 9, finding 3: nobody without the secret costs anything. The secret is checked before
 * the body is read; bodies, connections and slow senders are capped, and a legitimate request
 * is answered while an attack runs.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { cleanupStack, type CleanupStack } from '../helpers/cleanup.ts';
import { waitFor } from '../helpers/wait.ts';
import { callFunction, PROMPT_MS, startRuntime, whoami } from '../lifecycle/helpers.ts';
import { percentile } from '../reliability/helpers.ts';
import { deployIsolationFixture } from './helpers.ts';

const target = { service: 'guarded', environment: 'Production', secret: 'the-secret' };
const MiB = 1024 * 1024;
/** "In time" during the attack: this many times the median before it, and never under the floor. */
const IN_TIME_FACTOR = 10;
const IN_TIME_FLOOR_MS = 1_000;
/** The body timeout of the stalled-body test: a machine at load 20 fires its sweep well within 3 of them. */
const BODY_TIMEOUT_MS = 2_000;

interface RawClient { socket: Socket; answer: string; answeredAt?: number; closedAt?: number; sent: number }

/** A raw HTTP client: sends `head`, then the body as `drip()` is called; records what comes back. */
function rawClient(cleanup: CleanupStack, url: string, head: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const c: RawClient = { socket, answer: '', sent: 0 };
    cleanup.after(() => socket.destroy());
    socket.on('data', (d) => { c.answer += d.toString('latin1'); c.answeredAt ??= Date.now(); });
    socket.on('close', () => { c.closedAt = Date.now(); });
    socket.on('error', () => {});
    socket.once('connect', () => { socket.write(head); resolve(c); });
    socket.once('error', reject);
  });
}

function drip(c: RawClient, bytes: number): void {
  if (c.socket.destroyed || !c.socket.writable) return;
  c.socket.write(Buffer.alloc(bytes, 0x20));
  c.sent += bytes;
}

test('edge: 30 slow 20 MiB bodies without the secret are refused with a 401 before 2 MiB of any was sent (so flexd cannot have read more), while a legitimate request is answered in time', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup);
  await deployIsolationFixture(h, 'hostile', target);
  const base = h.base(target.service, target.environment);
  await whoami(base, 'warm-up', { secret: target.secret });
  // How long a legitimate request takes on this machine now, before the attack.
  const before: number[] = [];
  for (let i = 0; i < 5; i++) before.push((await callFunction(base, 'whoami', {}, { secret: target.secret, timeoutMs: PROMPT_MS })).ms);
  const inTimeMs = Math.max(IN_TIME_FLOOR_MS, IN_TIME_FACTOR * percentile(before, 50));
  const path = `/flex/${target.service}/${target.environment}/_flexFunctions/whoami`;

  const attackers: RawClient[] = [];
  for (let i = 0; i < 30; i++) {
    // Half declare their 20 MiB, half send it chunked: neither may make flexd hold it.
    const head = i % 2 === 0
      ? `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${20 * MiB}\r\n\r\n`
      : `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    attackers.push(await rawClient(cleanup, h.rt.url, head));
  }
  const chunk = 16 * 1024;
  const sendChunk = (c: RawClient, i: number) => {
    if (i % 2 === 0) drip(c, chunk);
    else if (!c.socket.destroyed) { c.socket.write(`${chunk.toString(16)}\r\n${' '.repeat(chunk)}\r\n`); c.sent += chunk; }
  };
  const dripper = setInterval(() => attackers.forEach(sendChunk), 20);
  cleanup.after(() => clearInterval(dripper));

  // Each is answered 401 after at most 64 KiB of its body (the SDK's InvalidCredentials answer).
  await waitFor('a 401 for every attacker', () => attackers.every((c) => c.answer.startsWith('HTTP/1.1 401')), { timeoutMs: PROMPT_MS * 2 });
  for (const c of attackers) assert.ok(c.sent < 2 * MiB, `an attacker had sent ${c.sent} bytes when refused`);
  assert.match(attackers[0].answer, /InvalidCredentials/);

  // While they go on sending, the secret's holder is served in time: within a multiple of before.
  for (let i = 0; i < 5; i++) {
    const res = await callFunction(base, 'whoami', {}, { secret: target.secret, timeoutMs: PROMPT_MS });
    assert.equal(res.status, 200, res.text);
    assert.ok(res.ms < inTimeMs, `a legitimate request took ${res.ms} ms (before the attack: ${before.join(', ')} ms)`);
  }
});

test('edge: bodies past the budget for all bodies at once are refused with 503 and Retry-After; the budget comes back', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { maxBufferedBodyBytes: MiB });
  await deployIsolationFixture(h, 'hostile', target);
  const base = h.base(target.service, target.environment);
  const path = `/flex/${target.service}/${target.environment}/_flexFunctions/whoami`;
  const size = 700 * 1024;
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Auth-Key: ${target.secret}\r\nContent-Length: ${size}\r\n\r\n`;
  const first = await rawClient(cleanup, h.rt.url, head);
  const second = await rawClient(cleanup, h.rt.url, head);
  drip(first, 600 * 1024);
  await new Promise((r) => setImmediate(r));
  drip(second, 600 * 1024);
  await waitFor('a 503 for the body that passed the budget', () => second.answer.startsWith('HTTP/1.1 503') || first.answer.startsWith('HTTP/1.1 503'));
  const refused = second.answer.startsWith('HTTP/1.1 503') ? second : first;
  assert.match(refused.answer, /Retry-After: 1/i);
  assert.match(refused.answer, /Overloaded/);
  first.socket.destroy();
  second.socket.destroy();
  await waitFor('the budget to come back', async () => (await callFunction(base, 'whoami', { pad: 'x'.repeat(900 * 1024) }, { secret: target.secret })).status === 200);
});

test('edge: connections past the cap get 503 with Retry-After, and are served again once others close', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { maxConnections: 5 });
  await deployIsolationFixture(h, 'hostile', target);
  const base = h.base(target.service, target.environment);
  const idle: RawClient[] = [];
  for (let i = 0; i < 5; i++) idle.push(await rawClient(cleanup, h.rt.url, ''));
  const res = await callFunction(base, 'whoami', {}, { secret: target.secret });
  assert.equal(res.status, 503, res.text);
  assert.equal(res.headers['retry-after'], '1');
  assert.equal(res.json?.error, 'Overloaded');
  for (const c of idle) c.socket.destroy();
  await waitFor('a 200 once the idle connections closed', async () => (await callFunction(base, 'whoami', {}, { secret: target.secret })).status === 200);
});

test('edge: a body that stops arriving is cut at bodyTimeoutMs with a 408', async (t) => {
  const cleanup = cleanupStack(t);
  const h = await startRuntime(cleanup, { bodyTimeoutMs: BODY_TIMEOUT_MS, headersTimeoutMs: BODY_TIMEOUT_MS });
  await deployIsolationFixture(h, 'hostile', target);
  const path = `/flex/${target.service}/${target.environment}/_flexFunctions/whoami`;
  const c = await rawClient(cleanup, h.rt.url, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Auth-Key: ${target.secret}\r\nContent-Length: 1000\r\n\r\n{"a":`);
  const opened = Date.now();
  await waitFor('the stalled request to be closed', () => c.closedAt, { timeoutMs: 5 * BODY_TIMEOUT_MS });
  assert.match(c.answer, /^HTTP\/1.1 408/);
  // At the timeout (Node sweeps every half of it), not at some later, unrelated close.
  const lived = c.closedAt! - opened;
  assert.ok(lived >= BODY_TIMEOUT_MS - 100 && lived < 3 * BODY_TIMEOUT_MS, `closed after ${lived} ms`);
});
