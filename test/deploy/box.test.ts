/** The build box (src/deploy/box.ts): what of flexd's configuration and environment a build gets. */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULTS, type Settings } from '../../src/config.ts';
import { boxEnvironment, prepareBuildBox } from '../../src/deploy/box.ts';
import { tempDir } from '../helpers/tmp.ts';

test('box: flexd\'s registry, scoped registries and nodedir are carried into the box; tokens and other settings are not; FLEXD_ variables never', async (t) => {
  const dir = await tempDir(t, 'flexd-box-');
  const userconfig = join(dir, 'flexd.npmrc');
  writeFileSync(userconfig, [
    'registry=https://mirror.example/npm/', '@acme:registry=https://acme.example/', 'nodedir=/usr',
    '//mirror.example/npm/:_authToken=s3cret-token', '_auth=dXNlcjpwYXNz', 'script-shell=/bin/evil', 'git=/bin/evil', '',
  ].join('\n'));
  const saved = { userconfig: process.env.npm_config_userconfig, flexd: process.env.FLEXD_ADMIN_PASSWORD };
  process.env.npm_config_userconfig = userconfig;
  process.env.FLEXD_ADMIN_PASSWORD = 'never-in-a-build';
  t.after(() => {
    for (const [name, value] of [['npm_config_userconfig', saved.userconfig], ['FLEXD_ADMIN_PASSWORD', saved.flexd]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  const box = prepareBuildBox(dir, { ...DEFAULTS } as Settings);
  // Under `npm test`, npm's own npm_config_* variables (cafile, noproxy…) are carried too: they are flexd's settings.
  const carried = readFileSync(box.npmrc, 'utf8').trim().split('\n');
  for (const line of ['@acme:registry=https://acme.example/', 'nodedir=/usr', 'registry=https://mirror.example/npm/']) assert.ok(carried.includes(line), line);
  assert.deepEqual(carried.filter((l) => /_auth|token|script-shell|^git=|s3cret/i.test(l)), []);
  assert.equal(statSync(box.npmrc).mode & 0o777, 0o644);

  const env = boxEnvironment(box, join(dir, 'tmp'));
  assert.deepEqual(Object.keys(env).sort(), ['HOME', 'LANG', 'NO_UPDATE_NOTIFIER', 'PATH', 'TMPDIR', 'npm_config_audit', 'npm_config_cache',
    'npm_config_fund', 'npm_config_update_notifier', 'npm_config_userconfig']);
  assert.equal(env.npm_config_userconfig, box.npmrc);
  assert.equal(env.HOME, box.home);
  if (box.account) {
    assert.equal(statSync(box.home).uid, box.account.uid, 'the build account owns its home');
    assert.equal(statSync(box.npmCache).uid, box.account.uid);
    assert.ok(!env.PATH!.split(':').some((p) => p.startsWith('/root')), `no folder the build account cannot enter: ${env.PATH}`);
  }
});
