/**
 * `parseJsonBody` and `isJsonContentType`: body-parser 1.18's `json()` semantics. Which content
 * types count as JSON is checked against type-is itself (the module body-parser asks).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { isJsonContentType, parseJsonBody } from '../../src/dataplane/body.ts';

const require = createRequire(import.meta.url);
/** type-is as body-parser loads it. */
const typeis = createRequire(require.resolve('body-parser'))('type-is') as { is(value: string, types: string[]): string | false };

const json = (text: string | Buffer, contentType = 'application/json') => parseJsonBody(contentType, Buffer.from(text));

describe('isJsonContentType', () => {
  const contentTypes = [
    'application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON',
    'APPLICATION/JSON ; CHARSET="utf-8"', ' application/json', 'application/json ', '\tapplication/json',
    'application/json;', 'application/json; charset', 'application/json; charset=', 'application/json; a=1; b="x y"',
    'application/json+', 'application/json+x', 'application/vnd.api+json', 'application/ld+json', 'application/*',
    'application/jsonx', 'text/json', 'text/plain', 'json', '', 'application/json, text/plain', 'application/json;;',
    'application/json; charset="unterminated',
  ];
  for (const contentType of contentTypes) {
    test(`isJsonContentType agrees with type-is for ${JSON.stringify(contentType)}`, () => {
      assert.equal(isJsonContentType(contentType), typeis.is(contentType, ['application/json']) === 'application/json');
    });
  }

  test('isJsonContentType: an absent header is not JSON', () => {
    assert.equal(isJsonContentType(undefined), false);
  });
});

describe('parseJsonBody', () => {
  test('parseJsonBody: an object and an array parse', () => {
    assert.deepStrictEqual(json('{"a":[1,{"b":null}]}'), { ok: true, value: { a: [1, { b: null }] } });
    assert.deepStrictEqual(json(' \r\n\t[1,2]'), { ok: true, value: [1, 2] });
  });

  test('parseJsonBody: a non-JSON content type gives {} whatever the bytes', () => {
    assert.deepStrictEqual(parseJsonBody('text/plain', Buffer.from('{"a":1}')), { ok: true, value: {} });
    assert.deepStrictEqual(parseJsonBody(undefined, Buffer.from('not json')), { ok: true, value: {} });
    assert.deepStrictEqual(parseJsonBody('application/json;', Buffer.from('not json')), { ok: true, value: {} });
  });

  test('parseJsonBody: an empty body gives {}', () => {
    assert.deepStrictEqual(json(''), { ok: true, value: {} });
    assert.deepStrictEqual(json(Buffer.from([0xef, 0xbb, 0xbf])), { ok: true, value: {} });
  });

  test('parseJsonBody: malformed JSON is a 400', () => {
    const parsed = json('{"a":');
    assert.equal(parsed.ok, false);
    assert.equal(!parsed.ok && parsed.status, 400);
    assert.ok(!parsed.ok && parsed.debug.length > 0);
  });

  test('parseJsonBody: strict mode refuses a top-level string, number, null or whitespace', () => {
    for (const text of ['"str"', '42', 'null', 'true', '   ']) {
      const parsed = json(text);
      assert.deepStrictEqual(parsed.ok ? 'parsed' : parsed.status, 400, text);
    }
  });

  test('parseJsonBody: a __proto__ key becomes an own property and does not pollute Object.prototype', () => {
    const parsed = json('{"__proto__":{"polluted":1},"nested":{"__proto__":{"polluted":2}}}');
    assert.ok(parsed.ok);
    const value = parsed.value as Record<string, any>;
    assert.ok(Object.prototype.hasOwnProperty.call(value, '__proto__'));
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: 1 });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(value.polluted, undefined);
    assert.equal(value.nested.polluted, undefined);
  });

  test('parseJsonBody: a UTF-8 BOM is skipped and bad bytes become U+FFFD', () => {
    assert.deepStrictEqual(json(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')])), { ok: true, value: { a: 1 } });
    assert.deepStrictEqual(json(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])), { ok: true, value: { a: '\ufffd' } });
  });

  test('parseJsonBody: UTF-16 charsets decode, with or without a BOM', () => {
    const text = '{"a":"é"}';
    assert.deepStrictEqual(json(Buffer.from(text, 'utf16le'), 'application/json; charset=utf-16le'), { ok: true, value: { a: 'é' } });
    assert.deepStrictEqual(json(Buffer.from(text, 'utf16le'), 'application/json; charset=utf-16'), { ok: true, value: { a: 'é' } });
    const be = Buffer.from(text, 'utf16le').swap16();
    assert.deepStrictEqual(json(be, 'application/json; charset=utf-16be'), { ok: true, value: { a: 'é' } });
    assert.deepStrictEqual(json(Buffer.concat([Buffer.from([0xfe, 0xff]), be]), 'application/json; charset=utf-16'), { ok: true, value: { a: 'é' } });
  });

  test('parseJsonBody: a charset that is not utf-* is a 415', () => {
    for (const charset of ['latin1', 'iso-8859-1', 'utf8', 'utf-32']) {
      const parsed = json('{}', `application/json; charset=${charset}`);
      assert.deepStrictEqual(parsed.ok ? 'parsed' : parsed.status, 415, charset);
    }
  });

  test('parseJsonBody: an empty or malformed charset parameter means utf-8', () => {
    assert.deepStrictEqual(json('{"a":1}', 'application/json; charset=""'), { ok: true, value: { a: 1 } });
    assert.deepStrictEqual(json('{"a":1}', 'application/json; charset="UTF-8"'), { ok: true, value: { a: 1 } });
  });
});
