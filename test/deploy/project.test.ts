import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { checkVersionIncreases, readProject } from '../../src/deploy/project.ts';
import { fileTree } from '../helpers/file-tree.ts';

/** A project folder holding `files`; objects are written as JSON. */
const projectWith = (t: TestContext, files: Record<string, unknown>) => fileTree(t, files, 'flexd-project-');

const sdk = { 'kinvey-flex-sdk': '3.2.1' };

async function assertInvalid(t: TestContext, files: Record<string, unknown>, message: RegExp) {
  const dir = await projectWith(t, files);
  await assert.rejects(readProject(dir), (err: { code: string; status: number; message: string }) => {
    assert.equal(err.code, 'InvalidProject');
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    return true;
  });
}

test('project: a Flex project yields its name, version, entry file, dependencies and SDK range', async (t) => {
  const dir = await projectWith(t, {
    'package.json': { name: 'orders', version: '1.4.3', main: 'lib/service', dependencies: { ...sdk, lodash: '^4.17.0' } },
    'lib/service.js': '',
  });

  assert.deepEqual(await readProject(dir), {
    name: 'orders', version: '1.4.3', main: 'lib/service.js',
    dependencies: { 'kinvey-flex-sdk': '3.2.1', lodash: '^4.17.0' }, sdkRange: '3.2.1',
  });
});

test('project: without "main" the entry is index.js, and a folder main resolves to its index.js', async (t) => {
  const plain = await projectWith(t, { 'package.json': { version: '1.0.0', dependencies: sdk }, 'index.js': '' });
  const folder = await projectWith(t, { 'package.json': { version: '1.0.0', main: './src/', dependencies: sdk }, 'src/index.js': '' });

  assert.equal((await readProject(plain)).main, 'index.js');
  assert.equal((await readProject(plain)).name, '');
  assert.equal((await readProject(folder)).main, 'src/index.js');
});

test('project: a "v"-prefixed version is normalized by semver', async (t) => {
  const dir = await projectWith(t, { 'package.json': { version: 'v2.0.0', dependencies: sdk }, 'index.js': '' });
  assert.equal((await readProject(dir)).version, '2.0.0');
});

test('project: a folder without package.json is refused as InvalidProject', async (t) => {
  await assertInvalid(t, { 'index.js': '' }, /no package\.json/);
});

test('project: a package.json that is not JSON is refused', async (t) => {
  await assertInvalid(t, { 'package.json': '{"version": "1.0.0",', 'index.js': '' }, /not valid JSON/);
  await assertInvalid(t, { 'package.json': '[]', 'index.js': '' }, /JSON object/);
});

test('project: a package.json without "version" is refused, naming the field', async (t) => {
  await assertInvalid(t, { 'package.json': { dependencies: sdk }, 'index.js': '' }, /no "version"/);
});

test('project: a version that is not semver is refused', async (t) => {
  await assertInvalid(t, { 'package.json': { version: '1.0', dependencies: sdk }, 'index.js': '' }, /"1\.0" is not a semver version/);
  await assertInvalid(t, { 'package.json': { version: 2, dependencies: sdk }, 'index.js': '' }, /2 is not a semver version/);
});

test('project: a project without kinvey-flex-sdk in dependencies is refused, and told when it sits in devDependencies', async (t) => {
  await assertInvalid(t, { 'package.json': { version: '1.0.0' }, 'index.js': '' }, /"dependencies" has no "kinvey-flex-sdk"/);
  await assertInvalid(t, { 'package.json': { version: '1.0.0', dependencies: { lodash: '4' }, devDependencies: sdk }, 'index.js': '' },
    /has no "kinvey-flex-sdk" \(it is in "devDependencies"; move it\)/);
  await assertInvalid(t, { 'package.json': { version: '1.0.0', dependencies: { 'kinvey-flex-sdk': 3 } }, 'index.js': '' },
    /"dependencies" must be an object of package names to version strings/);
});

test('project: a missing entry file is refused, naming it', async (t) => {
  await assertInvalid(t, { 'package.json': { version: '1.0.0', dependencies: sdk } }, /"index\.js" \(the default entry.*does not exist/);
  await assertInvalid(t, { 'package.json': { version: '1.0.0', main: 'lib/app.js', dependencies: sdk }, 'index.js': '' },
    /"lib\/app\.js" \(package\.json "main"\) does not exist/);
});

test('project: a "main" outside the project is refused', async (t) => {
  await assertInvalid(t, { 'package.json': { version: '1.0.0', main: '../../etc/passwd', dependencies: sdk } }, /outside the project/);
  await assertInvalid(t, { 'package.json': { version: '1.0.0', main: '/etc/passwd', dependencies: sdk } }, /outside the project/);
});

test('project: a version greater than the newest deployed, or a first deploy, passes the version check', () => {
  checkVersionIncreases('1.0.0', null);
  checkVersionIncreases('1.0.1', '1.0.0');
  checkVersionIncreases('1.0.0', '1.0.0-beta.2');
  checkVersionIncreases('1.10.0', '1.9.9');
});

test('project: a version equal to or lower than the deployed one is DeploymentVersionTooLow (409)', () => {
  assert.throws(() => checkVersionIncreases('1.0.0', '1.0.0'), {
    code: 'DeploymentVersionTooLow', status: 409,
    message: 'Version 1.0.0 is not greater than the deployed version 1.0.0. Bump the version in package.json and try again.',
  });
  assert.throws(() => checkVersionIncreases('0.9.0', '1.0.0'), { code: 'DeploymentVersionTooLow' });
  assert.throws(() => checkVersionIncreases('1.0.0-rc.1', '1.0.0'), { code: 'DeploymentVersionTooLow' });
});
