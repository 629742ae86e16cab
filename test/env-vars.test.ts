import { it } from 'node:test';
import assert from 'node:assert/strict';
import { validateEnvVars } from '../src/env-vars.ts';

it('env vars: a variable named __proto__ is kept as a variable, not a prototype', () => {
  const vars = validateEnvVars(JSON.parse('{"__proto__":"x","A":"1"}'));
  assert.deepEqual(Object.keys(vars).sort(), ['A', '__proto__']);
  assert.equal(Object.getPrototypeOf(vars), Object.prototype);
  assert.equal(JSON.stringify(vars), '{"__proto__":"x","A":"1"}');
});

it('env vars: every bad name, reserved name and non-string value is named in one refusal', () => {
  assert.throws(() => validateEnvVars({ '1BAD': 'x', SDK_RECEIVER: 'tcp', flexd_x: 'y', NODE_OPTIONS: '--x', N: 5, OK: 'fine' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'InvalidEnvironmentVariables');
    // Each variable by its quoted name and what is wrong with it: a bare `includes('N')` would match any message.
    for (const problem of ['"1BAD" is not a valid name', '"SDK_RECEIVER" is reserved', '"flexd_x" is reserved', '"NODE_OPTIONS" is reserved', '"N" must have a string value, not number']) {
      assert.ok(err.message.includes(problem), `${problem} in: ${err.message}`);
    }
    assert.ok(!err.message.includes('"OK"'), 'a good variable is not named');
    return true;
  });
});

it('env vars: empty strings are values', () => {
  assert.deepEqual(validateEnvVars({ EMPTY: '' }), { EMPTY: '' });
});

it('env vars: NODE_CHANNEL_*, LD_*, NODE_PATH and NODE_UNIQUE_ID are reserved, in any case (issue 9, finding 10)', () => {
  for (const name of ['NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_CHANNEL_FD', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'ld_audit', 'NODE_PATH', 'NODE_UNIQUE_ID']) {
    assert.throws(() => validateEnvVars({ [name]: 'x' }), new RegExp(`"${name}" is reserved by the runtime`), name);
  }
  assert.deepEqual(validateEnvVars({ NODE_ENV: 'production', LDAP_URL: 'ldap://x', NODE_PATHS: 'a' }), { NODE_ENV: 'production', LDAP_URL: 'ldap://x', NODE_PATHS: 'a' });
});
