#!/usr/bin/env node
// `npm test`: every test/**/*.test.ts through node:test with tsx. Node 20's --test does not
// expand globs or find .ts files by itself, so this lists them. Extra arguments pass through
// (`npm test -- --test-name-pattern=swap`), and file arguments narrow the run.
//
// Files run several at a time: most of a file's time is spent waiting on the runtimes, replicas,
// npm and CLIs it starts, not on a core. The longest files start first, so the run is not left
// waiting on one long file at its end: the order comes from the durations the last full run
// measured (node_modules/.cache/flexd-test/durations.json), or from scripts/test/durations.json
// (committed, measured on the 2-core development machine) before there is one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMMITTED_DURATIONS = join(ROOT, 'scripts', 'test', 'durations.json');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'flexd-test');
const MEASURED_DURATIONS = join(CACHE_DIR, 'durations.json');
/** A file the durations do not know yet (just added) is placed as if it took this long. */
const UNKNOWN_FILE_MS = 30_000;
/**
 * Files at a time. Measured on 2 cores: files spend most of their time waiting on child
 * processes, so twice the cores keeps both busy; FLEXD_TEST_CONCURRENCY overrides it.
 */
const CONCURRENCY = Number(process.env.FLEXD_TEST_CONCURRENCY) || Math.max(2, availableParallelism() * 2);
/**
 * A test that hangs fails after this instead of holding CI until its own limit; the slowest
 * tests (a registry install, the 50-client swaps) take a few minutes on a loaded 2-core machine.
 */
const TEST_TIMEOUT_MS = 10 * 60_000;

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name.startsWith('.') || e.name === 'fixtures' || e.name === 'node_modules') return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? find(path) : e.name.endsWith('.test.ts') ? [path] : [];
  });
}

function readDurations(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Longest first, by the last measured durations (keys are paths relative to the repository). */
function longestFirst(files) {
  const known = readDurations(MEASURED_DURATIONS) ?? readDurations(COMMITTED_DURATIONS) ?? {};
  const ms = (f) => known[f] ?? UNKNOWN_FILE_MS;
  return [...files].sort((a, b) => ms(b) - ms(a) || a.localeCompare(b));
}

const args = process.argv.slice(2);
const files = args.filter((a) => a.endsWith('.ts'));
const flags = args.filter((a) => !a.endsWith('.ts'));
const whole = files.length === 0;
const list = whole ? longestFirst(find('test')) : files;

// A whole run also records how long each file took, for the next run's order.
mkdirSync(CACHE_DIR, { recursive: true });
const measured = join(CACHE_DIR, `durations-${process.pid}.json`);
const reporters = flags.some((f) => f.startsWith('--test-reporter')) || !whole ? [] : [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`, '--test-reporter-destination=stdout',
  `--test-reporter=${join(ROOT, 'scripts', 'test', 'durations-reporter.mjs')}`, `--test-reporter-destination=${measured}`,
];

const started = Date.now();
const result = spawnSync(process.execPath, [
  '--import', 'tsx', '--test', `--test-concurrency=${CONCURRENCY}`, `--test-timeout=${TEST_TIMEOUT_MS}`, ...reporters, ...flags, ...list,
], { stdio: 'inherit' });

if (reporters.length > 0 && existsSync(measured)) {
  const absolute = readDurations(measured) ?? {};
  const byFile = Object.fromEntries(Object.entries(absolute).map(([f, ms]) => [relative(ROOT, resolve(f)), Math.round(ms)]));
  if (Object.keys(byFile).length > 0) {
    // written whole, then renamed: a run beside this one never reads half a file
    writeFileSync(measured, `${JSON.stringify(byFile, null, 1)}\n`);
    renameSync(measured, MEASURED_DURATIONS);
  }
}
rmSync(measured, { force: true });
console.error(`npm test: ${list.length} files, ${CONCURRENCY} at a time, ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(result.status ?? 1);
