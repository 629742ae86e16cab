/** The install policy (docs/install-policy.md) and the dependency cache key, as pure functions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dependencyKey } from '../../src/deploy/dependency-cache.ts';
import { hasRootInstallScripts, projectCodeInInstall, sanitizeManifest, sdkReplacement } from '../../src/deploy/install-policy.ts';

const PUBLISHED = { versions: ['1.2.0', '2.0.2', '2.1.0', '3.1.2', '3.2.0', '3.3.0', '4.0.0-beta.1'], distTags: { latest: '3.3.0', beta: '4.0.0-beta.1' } };

test('policy: devDependencies go, core-module names are dropped with a note, everything else is kept as written', () => {
  const original = {
    name: 'svc', version: '1.0.0', scripts: { test: 'mocha' },
    dependencies: { 'kinvey-flex-sdk': '^3.0.0', fs: '0.0.1-security', path: '^0.12.7', lodash: '^4.17.0', 'node-fetch': '2' },
    optionalDependencies: { crypto: '1.0.1', fsevents: '*' },
    devDependencies: { mocha: '^10.0.0', 'not-on-the-registry': '1.0.0' },
  };
  const { manifest, notes } = sanitizeManifest(original);
  assert.deepEqual(manifest, {
    name: 'svc', version: '1.0.0', scripts: { test: 'mocha' },
    dependencies: { 'kinvey-flex-sdk': '^3.0.0', lodash: '^4.17.0', 'node-fetch': '2' },
    optionalDependencies: { fsevents: '*' },
  });
  assert.deepEqual(notes.map((n) => n.split(' in ')[0]), ['"fs": "0.0.1-security"', '"path": "^0.12.7"', '"crypto": "1.0.1"']);
  assert.ok(original.devDependencies, 'the original is untouched');
});

test('policy: SDK specs npm cannot install become the newest release of their major, or the newest for an unknown tag', () => {
  const cases: Array<[string, string | null]> = [
    ['3.2.1', '3.3.0'], ['2.0.0', '2.1.0'], ['~3.2.1', '3.3.0'], ['>=3.9.0 <4', '3.3.0'], ['1.0.0', '1.2.0'],
    ['^3.0.0', null], ['3.3.0', null], ['latest', null], ['beta', null], ['next', '3.3.0'], ['5.0.0', null],
    ['git+https://github.com/x/y.git', null], ['file:../sdk', null], ['https://example.com/sdk.tgz', null],
  ];
  for (const [requested, expected] of cases) assert.equal(sdkReplacement(requested, PUBLISHED), expected, requested);
});

test('policy: a project with install scripts of its own is recognised (its builds never reuse a tree)', () => {
  assert.equal(hasRootInstallScripts({ scripts: { postinstall: 'node gen.js' } }), true);
  assert.equal(hasRootInstallScripts({ scripts: { prepare: 'tsc' } }), true);
  assert.equal(hasRootInstallScripts({ scripts: { start: 'node .', test: 'mocha' } }), false);
  assert.equal(hasRootInstallScripts({}), false);
});

test('cache key: follows the dependency sections, the lockfile, file: packages, npm settings, the Node major and the SDK substitution; not the version, scripts or devDependencies', () => {
  const npmrc = Buffer.from('registry=https://registry.npmjs.org/\n');
  const base = { name: 'svc', version: '1.0.0', dependencies: { 'kinvey-flex-sdk': '^3.0.0' } };
  const key = (manifest: Record<string, unknown>, more: Partial<Parameters<typeof dependencyKey>[0]> = {}) =>
    dependencyKey({ manifest: sanitizeManifest(manifest).manifest, localPackages: [], lockfile: null, npmrc, projectScope: null, nodeMajor: 20, substitution: { replacement: null, lockfileSetAside: null }, ...more });
  const k = key(base);
  assert.equal(key({ ...base, version: '1.0.1', scripts: { test: 'x' }, devDependencies: { mocha: '*' } }), k);
  assert.equal(key({ ...base, dependencies: { ...base.dependencies, fs: '0.0.1-security' } }), k, 'a dropped core-module name changes nothing');
  for (const changed of [
    key({ ...base, dependencies: { 'kinvey-flex-sdk': '3.3.0' } }),
    key({ ...base, optionalDependencies: { x: '1' } }),
    key({ ...base, overrides: { request: '2.88.2' } }),
    key(base, { lockfile: { name: 'package-lock.json', bytes: Buffer.from('{}') } }),
    key(base, { localPackages: [Buffer.from('{"dependencies":{}}')] }),
    key(base, { npmrc: Buffer.from('registry=https://mirror.example/\n') }),
    key(base, { projectScope: { environmentId: 'e1', projectDigest: 'd1' } }),
    key(base, { nodeMajor: 22 }),
    key(base, { substitution: { replacement: '3.3.0', lockfileSetAside: null } }),
    key(base, { substitution: { replacement: null, lockfileSetAside: 'package-lock.json pins kinvey-flex-sdk 3.2.1, which is not available; installing without the lockfile' } }),
  ]) assert.notEqual(changed, k);
  assert.notEqual(key(base, { substitution: { replacement: '3.3.0', lockfileSetAside: null } }), key(base, { substitution: { replacement: '3.2.0', lockfileSetAside: null } }),
    'two substitutions of one declared spec are two trees');
  const scoped = key(base, { projectScope: { environmentId: 'e1', projectDigest: 'd1' } });
  assert.notEqual(key(base, { projectScope: { environmentId: 'e2', projectDigest: 'd1' } }), scoped, 'another environment never finds it');
  assert.notEqual(key(base, { projectScope: { environmentId: 'e1', projectDigest: 'd2' } }), scoped, 'a changed project file is a new tree');
});

test('policy: project code that may run during an install is recognised: scripts, binding.gyp, local packages, workspaces', () => {
  assert.equal(projectCodeInInstall({ scripts: { postinstall: 'node patch.js' } }, false), 'scripts');
  assert.equal(projectCodeInInstall({}, true), 'scripts');
  assert.equal(projectCodeInInstall({ workspaces: ['pkgs/*'] }, false), 'scripts');
  assert.equal(projectCodeInInstall({ dependencies: { helper: 'file:./helper' } }, false), 'local-packages');
  assert.equal(projectCodeInInstall({ dependencies: { helper: '../helper' } }, false), 'local-packages');
  assert.equal(projectCodeInInstall({ dependencies: { lodash: '^4' }, scripts: { start: 'node .' } }, false), null);
});
