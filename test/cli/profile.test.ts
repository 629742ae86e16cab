import assert from 'node:assert/strict';
import { stat, writeFile, mkdir, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { currentProfile, normalizeHost, profilePath, readProfiles, writeProfiles } from '../../src/cli/profile.ts';
import { tempDir } from '../helpers/tmp.ts';

test('profile: the file lives under $HOME/.flexd', () => {
  assert.equal(profilePath({ HOME: '/home/ada' }), '/home/ada/.flexd/profiles.json');
});

test('profile: the file is written 0600 in a 0700 folder, also over an older file that was world-readable', async (t) => {
  const home = await tempDir(t, 'flexd-home-');
  const file = profilePath({ HOME: home });
  await mkdir(join(home, '.flexd'), { recursive: true });
  await writeFile(file, '{}');
  await chmod(file, 0o644);
  const data = { active: 'default', profiles: { default: { host: 'http://127.0.0.1:8080', email: 'a@b.c', token: 't0k' } } };
  await writeProfiles(data, file);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readProfiles(file), data);
});

test('profile: a new folder is created 0700', async (t) => {
  const home = await tempDir(t, 'flexd-home-');
  const file = profilePath({ HOME: home });
  await writeProfiles({ active: null, profiles: {} }, file);
  assert.equal((await stat(join(home, '.flexd'))).mode & 0o777, 0o700);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
});

test('profile: the active profile is used unless one is named; no login is a clear error', async (t) => {
  const home = await tempDir(t, 'flexd-home-');
  const file = profilePath({ HOME: home });
  await assert.rejects(currentProfile(undefined, file), /not logged in; run flexd login/);
  await writeProfiles({ active: 'a', profiles: {
    a: { host: 'http://a', email: 'a@x', token: 'ta' },
    b: { host: 'http://b', email: 'b@x', token: '' },
  } }, file);
  assert.equal((await currentProfile(undefined, file)).profile.host, 'http://a');
  await assert.rejects(currentProfile('b', file), /profile "b" is logged out/);
  await assert.rejects(currentProfile('c', file), /no profile "c"/);
});

test('profile: hosts get a scheme when they have none and lose the trailing slash', () => {
  assert.equal(normalizeHost('localhost:8080/'), 'http://localhost:8080');
  assert.equal(normalizeHost('https://flexd.example.com/mgmt/'), 'https://flexd.example.com/mgmt');
  assert.throws(() => normalizeHost('ftp://x'), /http:\/\/ or https:\/\//);
});
