#!/usr/bin/env node
// `npm test`: every test/**/*.test.ts through node:test with tsx. Node 20's --test does not
// expand globs or find .ts files by itself, so this lists them. Extra arguments pass through
// (`npm test -- --test-name-pattern=swap`), and file arguments narrow the run.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name.startsWith('.') || e.name === 'fixtures' || e.name === 'node_modules') return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? find(path) : e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * Started first: the packed-tarball test spends minutes compiling better-sqlite3 while mostly
 * waiting on one core, so it runs beside the rest instead of after it.
 */
const SLOW_FIRST = ['test/package.test.ts'];

const args = process.argv.slice(2);
const files = args.filter((a) => a.endsWith('.ts'));
const flags = args.filter((a) => !a.endsWith('.ts'));
/**
 * A test that hangs fails after this instead of holding CI until its own limit: the slowest test
 * (the packed tarball, compiling better-sqlite3) takes about 3 minutes on a busy 2-core machine.
 */
const TEST_TIMEOUT_MS = 10 * 60_000;

const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, ...flags, ...(files.length ? files : slowFirst(find('test').sort()))], { stdio: 'inherit' });
process.exit(result.status ?? 1);

function slowFirst(list) {
  return [...SLOW_FIRST.filter((f) => list.includes(f)), ...list.filter((f) => !SLOW_FIRST.includes(f))];
}
