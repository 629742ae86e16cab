/**
 * Issue 15, an unauthenticated client against the logins (src/accounts/login.ts, throttle.ts):
 * a guesser is slowed with growing delays, but never locks an account out for its owner at
 * another address — the admin's included. Real connections from 127.0.0.2 (the attacker) and
 * 127.0.0.1 (the owner). (Behind `trustProxy` the forwarded address is the one throttled, and
 * without it the header is ignored: test/api/roles.test.ts.)
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { LoginThrottle } from '../../src/accounts/throttle.ts';
import { openStore } from '../../src/store/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { ADMIN, startApi } from '../api/helpers.ts';
import { withDeadline } from '../helpers/wait.ts';

/** POST /session from `localAddress`, as a client on that address would. */
function logIn(url: string, body: unknown, localAddress: string, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter: string | undefined; body: any }> {
  return withDeadline(`POST /session from ${localAddress}`, new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(`${url}/session`, {
      method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers },
    }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(text);
  }), 30_000);
}

test('15 wrong passwords for the admin from 127.0.0.2 throttle 127.0.0.2, and the right password from 127.0.0.1 still logs in', async (t) => {
  const api = await startApi(t);
  const url = api.rt.url.replace('localhost', '127.0.0.1');
  const statuses: number[] = [];
  let retryAfter: string | undefined;
  for (let i = 0; i < 15; i++) {
    const r = await logIn(url, { email: ADMIN.email, password: `wrong-${i}` }, '127.0.0.2');
    statuses.push(r.status);
    if (r.status === 429) retryAfter = r.retryAfter;
  }
  assert.ok(statuses.includes(401) && statuses.at(-1) === 429, `the attacker is throttled: ${statuses.join(' ')}`);
  assert.ok(Number(retryAfter) >= 1, `with Retry-After: ${retryAfter}`);
  const attackerRight = await logIn(url, ADMIN, '127.0.0.2');
  assert.equal(attackerRight.status, 429, 'even the right password waits at the throttled address');

  const owner = await logIn(url, ADMIN, '127.0.0.1');
  assert.equal(owner.status, 200, JSON.stringify(owner.body));
  assert.equal(typeof owner.body.token, 'string');
  // And a wrong try by the owner is a plain 401, not a lockout inherited from the attacker.
  assert.equal((await logIn(url, { ...ADMIN, password: 'typo' }, '127.0.0.1')).status, 401);
});

test('throttle: delays grow with each failure past the free ones, up to the window, and a key that never failed never waits', async (t) => {
  const store = await openStore(await tempDir(t, 'flexd-throttle-'));
  t.after(() => store.close());
  const throttle = new LoginThrottle({ limit: 3, windowMs: 60_000, scope: 'test', state: store.loginThrottle });
  const now = 1_000_000;
  for (let i = 0; i < 3; i++) {
    assert.equal(await throttle.retryAfterMs('a', now), 0);
    await throttle.fail('a', now);
  }
  assert.equal(await throttle.retryAfterMs('a', now), 1_000);
  await throttle.fail('a', now + 1_000);
  assert.equal(await throttle.retryAfterMs('a', now + 1_000), 2_000);
  await throttle.fail('a', now + 3_000);
  assert.equal(await throttle.retryAfterMs('a', now + 3_000), 4_000);
  for (let i = 0; i < 20; i++) await throttle.fail('a', now + 4_000);
  assert.equal(await throttle.retryAfterMs('a', now + 4_000), 60_000, 'never more than the window');
  assert.equal(await throttle.retryAfterMs('b', now + 4_000), 0);
  assert.equal(await throttle.retryAfterMs('a', now + 4_000 + 60_001), 0, 'a window after its last failure, it starts over');
  await throttle.reset('a');
  assert.equal(await throttle.retryAfterMs('a', now + 4_000), 0, 'a success clears the key');
});
