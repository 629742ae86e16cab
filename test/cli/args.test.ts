import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyVarsChange, isoDate, parseCommandArgs, parseEnvVars, positiveInt, runtimeOption, VARS_OPTIONS, varsChange } from '../../src/cli/args.ts';
import { failureLine } from '../../src/cli/errors.ts';
import { FlexdError } from '../../src/errors.ts';

test('args: a command parses its own options, positionals and the global ones', () => {
  const parsed = parseCommandArgs(['svc', '--env', 'Production', '--output', 'json', '--profile', 'ci', '--host', 'http://h:1'],
    { env: { type: 'string' } }, {});
  assert.deepEqual(parsed.positionals, ['svc']);
  assert.equal(parsed.values.env, 'Production');
  assert.deepEqual(parsed.globals, { output: 'json', profile: 'ci', host: 'http://h:1', help: false });
});

test('args: the profile comes from FLEXD_PROFILE when --profile is absent; output defaults to tables', () => {
  const parsed = parseCommandArgs([], {}, { FLEXD_PROFILE: 'staging' });
  assert.equal(parsed.globals.profile, 'staging');
  assert.equal(parsed.globals.output, 'table');
});

test('args: an unknown option or output mode is a one-line usage error', () => {
  assert.throws(() => parseCommandArgs(['--nope'], {}, {}), { message: "Unknown option '--nope'" });
  assert.throws(() => parseCommandArgs(['--output', 'yaml'], {}, {}), /--output must be "json" or "table"/);
  assert.throws(() => parseCommandArgs(['--env'], { env: { type: 'string' } }, {}), (err: Error) => !err.message.includes('\n'));
});

test('env vars: K=V pairs split on commas and on the first =, values may be empty or hold =', () => {
  assert.deepEqual(parseEnvVars('GREETING=hi,EMPTY=,URL=http://x/?a=b'), { GREETING: 'hi', EMPTY: '', URL: 'http://x/?a=b' });
  assert.deepEqual(parseEnvVars(''), {});
});

test('env vars: a JSON object is taken as is, non-string values as their JSON text (as kinvey-cli sends them)', () => {
  assert.deepEqual(parseEnvVars('{"A":"1","B":true,"C":{"d":2},"N":null}'), { A: '1', B: 'true', C: '{"d":2}', N: 'null' });
});

test('env vars: a pair without = or a name, bad JSON and a JSON array are refused naming the flag', () => {
  assert.throws(() => parseEnvVars('A=1,B'), /--set-vars: expected NAME=VALUE pairs separated by commas, got "B"/);
  assert.throws(() => parseEnvVars('=1'), /expected NAME=VALUE/);
  assert.throws(() => parseEnvVars('{"A":', '--replace-vars'), /--replace-vars: not valid JSON/);
  assert.throws(() => parseEnvVars('{}x'), /not valid JSON/);
  assert.throws(() => parseEnvVars('[1]'), /expected NAME=VALUE/);
});

test('env vars: --set-vars merges into the current set, --replace-vars replaces it, both at once is refused', () => {
  const current = { KEEP: 'k', CHANGE: 'old' };
  const set = varsChange({ 'set-vars': 'CHANGE=new,ADD=a' })!;
  assert.deepEqual(applyVarsChange(current, set), { KEEP: 'k', CHANGE: 'new', ADD: 'a' });
  const replace = varsChange({ 'replace-vars': 'ONLY=1' })!;
  assert.deepEqual(applyVarsChange(current, replace), { ONLY: '1' });
  assert.equal(varsChange({}), undefined);
  assert.throws(() => varsChange({ 'set-vars': 'A=1', 'replace-vars': 'B=2' }), /cannot be used together/);
  // A command taking VARS_OPTIONS parses both flags into what varsChange reads.
  const parsed = parseCommandArgs(['--set-vars', 'A=1'], VARS_OPTIONS, {});
  assert.deepEqual(varsChange(parsed.values), { mode: 'set', vars: { A: '1' } });
  assert.deepEqual(varsChange(parseCommandArgs(['--replace-vars', '{"B":"2"}'], VARS_OPTIONS, {}).values), { mode: 'replace', vars: { B: '2' } });
});

test('args: --page/--number are whole numbers from 1, --from/--to ISO dates normalized to UTC', () => {
  assert.equal(positiveInt('20', '--number'), 20);
  assert.equal(positiveInt(undefined, '--page'), undefined);
  assert.throws(() => positiveInt('0', '--page'), /--page must be a whole number of 1 or more/);
  assert.throws(() => positiveInt('2.5', '--page'), /whole number/);
  assert.equal(isoDate('2024-05-01T14:00:00+02:00', '--from'), '2024-05-01T12:00:00.000Z');
  assert.throws(() => isoDate('yesterday', '--from'), /--from must be an ISO-8601 date/);
});

test('args: --runtime maps Node majors (node22, Kinvey\'s node12) to the API names and passes other names through', () => {
  assert.equal(runtimeOption('node12'), 'flex-runtime-node12');
  assert.equal(runtimeOption('flex-runtime-node10'), 'flex-runtime-node10');
  assert.equal(runtimeOption('node22'), 'flex-runtime-node22');
  assert.equal(runtimeOption('custom-node'), 'custom-node');
  assert.equal(runtimeOption(undefined), undefined);
  assert.throws(() => runtimeOption('a b'), /not a runtime name/);
});

test('errors: a failure is one line, with the code of an API or flexd error and not of a system error', () => {
  assert.equal(failureLine(new FlexdError('InvalidProject', 'package.json has no "version".')), 'InvalidProject: package.json has no "version".');
  assert.equal(failureLine(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })), 'ENOENT: no such file');
  assert.equal(failureLine(new Error('first\n  second')), 'first');
  assert.equal(failureLine('plain'), 'plain');
});

test('command line: global options may stand before the command; they are handed to it with the rest', async () => {
  const { splitCommandLine } = await import('../../src/cli/args.ts');
  assert.deepEqual(splitCommandLine(['--output', 'json', 'status', '-s', 'orders']), { name: 'status', rest: ['--output', 'json', '-s', 'orders'] });
  assert.deepEqual(splitCommandLine(['--profile=ci', '--host', 'http://h:1', 'logs', '-n', '5']), { name: 'logs', rest: ['--profile=ci', '--host', 'http://h:1', '-n', '5'] });
  assert.deepEqual(splitCommandLine(['status', '--output', 'json']), { name: 'status', rest: ['--output', 'json'] });
  assert.deepEqual(splitCommandLine(['--help']), { name: undefined, rest: ['--help'] });
  assert.deepEqual(splitCommandLine([]), { name: undefined, rest: [] });
  assert.throws(() => splitCommandLine(['--env', 'x', 'status']), /"--env" before the command is not a global option/);
  assert.throws(() => splitCommandLine(['--output']), /option --output needs a value/);
});

test('launcher: npm and npx are recognised by their title or their script, a shell or node itself is not', async () => {
  const { isNpm, findLauncher } = await import('../../src/cli/launcher-watch.ts');
  assert.ok(isNpm(['npm exec flexd serve --port 0']));
  assert.ok(isNpm(['npm start']));
  assert.ok(isNpm(['node', '/usr/lib/node_modules/npm/bin/npm-cli.js', 'exec', 'flexd']));
  assert.ok(isNpm(['/usr/bin/node', '/usr/bin/npx', 'flexd']));
  assert.ok(!isNpm(['sh', '-c', 'flexd serve']));
  assert.ok(!isNpm(['node', '/opt/flexd/node_modules/.bin/flexd', 'serve']));
  assert.ok(!isNpm(['/usr/lib/systemd/systemd']));
  // pid 1 has no launcher above it, and nothing is watched without one
  assert.equal(findLauncher({}, 1), undefined);
});
