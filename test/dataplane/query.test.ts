/**
 * `request.query` must be what Express 4.16's "extended" query parser gives: qs 6.5 with
 * `allowPrototypes`. flexd uses the maintained qs (6.17), whose later hardening changed a few
 * corner cases on purpose (array-limit and bracket-parsing hardening, and the `__proto__` fix for
 * CVE-2022-24999, which qs 6.5.1 predates). Realistic queries must match qs 6.5 exactly; the
 * corners that differ are pinned below so a change in either direction is noticed.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { routeRequest } from '../../src/dataplane/task.ts';

const require = createRequire(import.meta.url);
/** The qs that Express itself loads (its own nested copy). */
const expressQs = createRequire(require.resolve('express'))('qs') as { parse(s: string, o: object): unknown };

function expressQuery(rawQuery: string): unknown {
  return expressQs.parse(rawQuery, { allowPrototypes: true });
}

/** `request.query` as flexd builds it for `GET /widgets?<rawQuery>` (`{}` when there is none). */
function flexdQuery(rawQuery: string): unknown {
  const route = routeRequest({ method: 'GET', path: '/widgets', rawQuery, header: () => undefined, body: {} });
  assert.equal(route.kind, 'task');
  return route.kind === 'task' ? (route.task.request.query ?? {}) : undefined;
}

const repeat = (n: number, item: (i: number) => string) => Array.from({ length: n }, (_, i) => item(i)).join('&');

const SAME_AS_EXPRESS = [
  'query=%7B%22name%22%3A%22x%22%7D&fields=name&limit=10&skip=5&sort=%7B%22name%22%3A1%7D',
  'query={"a":{"$gt":1}}&limit=2',
  'query=%7B%22tags%22%3A%7B%22%24in%22%3A%5B%22a%22%2C%22b%22%5D%7D%7D',
  'a=1&a=2&a=3',
  repeat(21, (i) => `r=${i}`),
  'a[]=1&a[]=2',
  'a[0]=x&a[1]=y',
  'a[1]=x&a[0]=y',
  'a[20]=x',
  'a[21]=x',
  'a[b]=1&a[c][d]=2',
  'a[b][c][d][e][f][g][h]=deep',
  'a[0][b]=1&a[0][c]=2',
  'a[]=1&a=2',
  'a=1&a[]=2',
  'a+b=c+d',
  'a=%E2%82%AC&b=%C3%A9',
  'a=%ZZ&b=%E0%A4%A',
  'a%5Bb%5D=1',
  'flag&empty=&=nokey&&',
  'a=b=c',
  'a.b=1',
  'A=1&a=2',
  'hasOwnProperty=1&toString=2&constructor=3',
  '__proto__[x]=1&constructor[prototype][z]=3',
  '__proto__=1',
  repeat(1001, (i) => `k${i}=${i}`),
];

describe('query strings parse as Express 4.16 parses them', () => {
  for (const rawQuery of SAME_AS_EXPRESS) {
    test(`query: ${rawQuery.length > 70 ? `${rawQuery.slice(0, 70)}…` : rawQuery}`, () => {
      assert.deepStrictEqual(flexdQuery(rawQuery), expressQuery(rawQuery));
    });
  }
});

/** Where flexd (qs 6.17) deliberately differs from Express's qs 6.5, with what each gives. */
const KNOWN_DIVERGENCES: { rawQuery: string; why: string; flexd: unknown }[] = [
  {
    rawQuery: repeat(22, (i) => `r=${i}`),
    why: 'more than 21 values of one key become an index-keyed object (qs array-limit hardening)',
    flexd: { r: Object.fromEntries(Array.from({ length: 22 }, (_, i) => [String(i), String(i)])) },
  },
  {
    rawQuery: 'a[b]=1&a=2',
    why: 'a scalar merged into an object makes an array, not a `{"2": true}` key',
    flexd: { a: [{ b: '1' }, '2'] },
  },
  {
    rawQuery: 'a[=1',
    why: 'an unclosed bracket is split off instead of kept in the key',
    flexd: { a: { '[': '1' } },
  },
  {
    rawQuery: 'a[__proto__][y]=2',
    why: 'a nested __proto__ key is dropped instead of becoming the prototype of `a` (same JSON)',
    flexd: { a: {} },
  },
  {
    rawQuery: '%ZZ%5B=1',
    why: 'qs 6.17 turns %5B/%5D into brackets before decoding, also next to a bad escape',
    flexd: { '%ZZ': { '[': '1' } },
  },
];

describe('query corners where flexd deliberately differs from Express', () => {
  for (const { rawQuery, why, flexd } of KNOWN_DIVERGENCES) {
    test(`query divergence: ${why}`, () => {
      assert.deepStrictEqual(flexdQuery(rawQuery), flexd);
      assert.notDeepStrictEqual(expressQuery(rawQuery), flexd);
    });
  }
});
