/**
 * Generated passwords (`flexd user add` without one, `admin reset-password`, a fresh data dir's
 * admin) are passed on as they are printed: `flexd login --password <it>`, `kinvey profile create
 * --password <it>`. An argument parser reads a value that starts with '-' as an option
 * ("Option '--password' argument is ambiguous"), so none may: they were base64url, and one in 64
 * started with '-' (test/cli/day2.test.ts failed a CI run that way). Letters and digits only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePassword } from '../../src/accounts/passwords.ts';

test('generated passwords are 32 letters and digits, every one of the 62 drawn, none repeated', () => {
  const seen = new Set<string>();
  const chars = new Set<string>();
  // with '-' among 64 characters, 2,000 draws would start with it about 31 times
  for (let i = 0; i < 2_000; i++) {
    const password = generatePassword();
    assert.match(password, /^[A-Za-z0-9]{32}$/);
    seen.add(password);
    for (const c of password) chars.add(c);
  }
  assert.equal(seen.size, 2_000);
  assert.equal(chars.size, 62, 'the whole alphabet is used');
});
