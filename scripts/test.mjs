#!/usr/bin/env node
// `npm test`: every test/**/*.test.ts through node:test with tsx. Node 20's --test does not
// expand globs or find .ts files by itself, so this lists them. Extra arguments pass through
// (`npm test -- --test-name-pattern=swap`), and file arguments narrow the run.
//
// Each heavy file runs in a Node process of its own (the file itself as the main module, its tests
// and their reporters in that process: `node --test` would start a second process per file, a
// tenth of a second of CPU each for nothing), and light files share one with their neighbours,
// one file after the other (see `units`), several processes at a time. Most of a file's time
// is spent waiting on the runtimes, replicas, npm and CLIs it starts, not on a core, and how much
// differs from file to file, so the number of files at a time follows the machine, measured as the
// run goes: never fewer than twice the cores, and one more (up to four times the cores) whenever
// the cores were idle for the last seconds. A machine busy with other work gets no more than twice
// the cores. The longest files start first, so the run is not left waiting on one long file at its
// end: the order comes from the durations the last full run measured
// (node_modules/.cache/flexd-test/durations.json), or from scripts/test/durations.json (committed,
// measured on the 2-core development machine) before there is one.
//
// A file's output is printed whole when it ends (files never interleave), with a line giving its
// wall time and the CPU time it and every process it started used.
//
// Every file's temporary folders (data dirs, projects, npm caches) go to memory when the machine
// has a tmpfs with room (/dev/shm): on this machine's ext4 /tmp, creating the tens of thousands of
// files a run writes and deletes cost the kernel more CPU than the tests themselves (inode
// allocation skipping recently deleted inodes). FLEXD_TEST_TMPDIR chooses the folder instead.
//
// A whole run also starts scripts/test/prepare.ts beside the first files: it builds what many
// files share and would otherwise wait for one by one (the packed tarball, Node releases, SDK
// installs), each in its helper's cache and under its helper's lock.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMMITTED_DURATIONS = join(ROOT, 'scripts', 'test', 'durations.json');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'flexd-test');
const MEASURED_DURATIONS = join(CACHE_DIR, 'durations.json');
const REPORTER = join(ROOT, 'scripts', 'test', 'durations-reporter.mjs');
const PREPARE = join(ROOT, 'scripts', 'test', 'prepare.ts');
const GROUP = join(ROOT, 'scripts', 'test', 'group.mjs');
/** A file is light, and shares a process with its neighbours, under this much CPU and wall time (committed durations). */
const LIGHT_CPU_MS = 10_000;
const LIGHT_WALL_MS = 30_000;
/** A group holds files of about this much wall time together, so no group becomes the run's last long wait. */
const GROUP_WALL_MS = 60_000;
/** What a file says, in a comment with the reason, to run in a process of its own. */
const OWN_PROCESS = 'npm test: own process';
const ISOLATE = process.env.FLEXD_TEST_ISOLATE === '1';
/** A file the durations do not know yet (just added) is placed as if it took this long. */
const UNKNOWN_FILE_MS = 30_000;
const CORES = availableParallelism();
const FIXED = Number(process.env.FLEXD_TEST_CONCURRENCY) || undefined;
/** Files at a time, whatever the machine does (FLEXD_TEST_CONCURRENCY fixes the count). */
const MIN_FILES = FIXED ?? Math.max(2, CORES * 2);
/** At most this many, and only while the cores have idle time to give. */
const MAX_FILES = FIXED ?? Math.max(4, CORES * 4);
/** The cores count as idle when at least this share of their time went unused over the last sample. */
const IDLE_SHARE = 0.25;
/** How often the cores are sampled, and how long a newly started file is given to show its own load first. */
const SAMPLE_MS = 1_000;
const SETTLE_MS = 4_000;
/**
 * A file that hangs is killed after this instead of holding CI until its own limit (90 minutes). The
 * slowest tests take a few minutes on a loaded 2-core machine; the slowest of all, the first run
 * of test/runtimes/package.test.ts on a fresh machine (better-sqlite3 compiled for Node 24), took
 * over 10 minutes with two full runs side by side at load 25, so a hang is called at 20.
 * FLEXD_TEST_FILE_TIMEOUT_MS sets another limit (test/test-runner.test.ts sets a short one).
 */
const TEST_TIMEOUT_MS = Number(process.env.FLEXD_TEST_FILE_TIMEOUT_MS) || 20 * 60_000;
/** How many lines of a failed file's output are repeated at the end of the run. */
const RECAP_LINES = 120;
/** statfs's f_type of a tmpfs */
const TMPFS_MAGIC = 0x01021994;
/** A tmpfs is used for the tests' temporary folders only with this much room. */
const TMPFS_MIN_FREE = 6 * 1024 ** 3;

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

/** A file's wall time in a durations file: a number (older files) or `{ ms, cpuMs }`. */
const wallMs = (entry) => (typeof entry === 'number' ? entry : entry?.ms);

/** Longest first, by the last measured durations (keys are paths relative to the repository); a group lasts as long as its files together. */
function longestFirst(units) {
  const known = readDurations(MEASURED_DURATIONS) ?? readDurations(COMMITTED_DURATIONS) ?? {};
  const ms = (unit) => unit.reduce((sum, f) => sum + (wallMs(known[relative(ROOT, resolve(f))]) ?? UNKNOWN_FILE_MS), 0);
  return [...units].sort((a, b) => ms(b) - ms(a) || a[0].localeCompare(b[0]));
}

/** Busy and total time of all cores so far (Linux /proc/stat), or undefined elsewhere. */
function coreTimes() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = fields[3] + (fields[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * The files a run starts, as units of one process each: a file of its own, or a group of light
 * files that run one after the other in one process (scripts/test/group.mjs). A
 * light file (its last committed measure under LIGHT_CPU_MS of CPU) spends most of its CPU on the
 * process's own start, about a second: tsx's loader thread and flexd's modules. A group pays it
 * once. Groups are made from the committed durations only, so every machine runs the same groups;
 * a file new to them, a heavy one, or one that says `npm test: own process` (a comment giving
 * why: it measures its process's memory, changes its working directory, loads a receiver into
 * it...) runs alone. FLEXD_TEST_ISOLATE=1 runs every file alone; FLEXD_TEST_DURATIONS names
 * another durations file to plan from (test/test-runner.test.ts).
 */
function units(files) {
  const committed = readDurations(process.env.FLEXD_TEST_DURATIONS ?? COMMITTED_DURATIONS) ?? {};
  const alone = [];
  const light = [];
  for (const file of files) {
    const known = committed[relative(ROOT, resolve(file))];
    const isLight = typeof known === 'object' && known.cpuMs <= LIGHT_CPU_MS && known.ms <= LIGHT_WALL_MS;
    // another reporter cannot tell a group's files apart
    if (ISOLATE || ownReporter || !isLight || readFileSync(file, 'utf8').includes(OWN_PROCESS)) alone.push([file]);
    else light.push(file);
  }
  // by path, so a group holds neighbours (a folder's files, in turn)
  const groups = [];
  let group = [];
  let groupMs = 0;
  for (const file of light.sort()) {
    const ms = wallMs(committed[relative(ROOT, resolve(file))]);
    if (group.length > 0 && groupMs + ms > GROUP_WALL_MS) {
      groups.push(group);
      group = [];
      groupMs = 0;
    }
    group.push(file);
    groupMs += ms;
  }
  if (group.length > 0) groups.push(group);
  return [...alone, ...groups];
}

const args = process.argv.slice(2);
const files = args.filter((a) => a.endsWith('.ts'));
const flags = args.filter((a) => !a.endsWith('.ts'));
const whole = files.length === 0;
const list = whole ? find('test') : files;
const ownReporter = flags.some((f) => f.startsWith('--test-reporter'));
const plan = longestFirst(units(list));
// FLEXD_TEST_PLAN=1 prints which files run alone and which share a process, and runs nothing.
if (process.env.FLEXD_TEST_PLAN === '1') {
  for (const unit of plan) process.stdout.write(`${unit.map((f) => relative(ROOT, resolve(f))).join(' ')}\n`);
  process.exit(0);
}
const format = process.stdout.isTTY ? 'spec' : 'tap';

mkdirSync(CACHE_DIR, { recursive: true });
const scratch = join(tmpdir(), `flexd-test-run-${process.pid}`);
mkdirSync(scratch, { recursive: true });
const testTmp = testTmpDir();

/**
 * Each file runs in a process group of its own, so what it started (a `flexd serve`, npm, a
 * PostgreSQL server) is reached with it: by the hang guard, and when the run itself is stopped
 * (Ctrl-C, or SIGTERM to the runner alone), which also removes the run's temporary folder.
 */
const live = new Set();

function signalFile(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of live) signalFile(child, 'SIGTERM');
    if (testTmp?.own) rmSync(testTmp.dir, { recursive: true, force: true });
    process.exit(130);
  });
}

/** The TMPDIR of every test file: a folder of this run's own on a tmpfs with room, else none (the usual tmpdir). */
function testTmpDir() {
  const chosen = process.env.FLEXD_TEST_TMPDIR;
  if (chosen) return { dir: chosen, own: false };
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.type !== TMPFS_MAGIC || fs.bavail * fs.bsize < TMPFS_MIN_FREE) return undefined;
    const dir = join('/dev/shm', `flexd-test-${process.pid}`);
    mkdirSync(dir);
    // like /tmp: the build and replica accounts of the tests' runtimes reach their folders in it
    chmodSync(dir, 0o1777);
    shareTsxCache(dir);
    return { dir, own: true };
  } catch {
    return undefined;
  }
}

/**
 * tsx keeps its compiled files in `<TMPDIR>/tsx-<uid>`: in the run's own folder it would start
 * empty every run (about half a second of CPU per process that loads flexd's sources before the
 * cache fills, several processes at once at the start). A link to the machine's own keeps it
 * across runs; its entries are named by content, so a changed file is compiled again.
 */
function shareTsxCache(dir) {
  const name = `tsx-${process.getuid?.() ?? 0}`;
  try {
    mkdirSync(join(tmpdir(), name), { recursive: true, mode: 0o700 });
    symlinkSync(join(tmpdir(), name), join(dir, name), 'dir');
  } catch {
    // no link: tsx makes its own folder in the run's one
  }
}

/**
 * A test file's environment: TMPDIR is the tests' folder; FLEXD_TEST_HOST_TMPDIR keeps the usual
 * one for caches that outlive a run (test/helpers/packed.ts).
 */
function testEnv() {
  if (!testTmp) return process.env;
  return { ...process.env, TMPDIR: testTmp.dir, FLEXD_TEST_HOST_TMPDIR: process.env.FLEXD_TEST_HOST_TMPDIR ?? tmpdir() };
}

/**
 * Starts a Node process for the run, in a process group of its own (see `live`), with its stdout
 * and stderr kept together; `closed` resolves when it has ended.
 */
function startNode(args) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: testEnv(), detached: true });
  live.add(child);
  const out = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => out.push(d));
  const closed = new Promise((done) => child.once('close', (code, signal) => {
    live.delete(child);
    done({ code, signal });
  }));
  return { child, out, closed };
}

/**
 * Runs one unit (a file, or a group of files in one process); resolves with the process's
 * verdict, output and wall time, and each file's own: its verdict, wall time and CPU time (from
 * the reporter; a file of a group is timed by its suite, its CPU from the end of the file before it).
 */
async function runUnit(unit, index) {
  const names = unit.map((f) => relative(ROOT, resolve(f)));
  const measured = join(scratch, `${index}.json`);
  const reporters = ownReporter ? [] : [
    `--test-reporter=${format}`, '--test-reporter-destination=stdout',
    `--test-reporter=${REPORTER}`, `--test-reporter-destination=${measured}`,
  ];
  const entry = unit.length === 1 ? unit : [GROUP, ...unit];
  const started = Date.now();
  const { child, out, closed } = startNode(['--import', 'tsx', ...reporters, ...flags, ...entry]);
  // Node applies --test-timeout only under --test: the hang guard is the runner's, for the whole process.
  const guard = setTimeout(() => {
    out.push(Buffer.from(`\n# ${names.join(', ')} still ran after ${TEST_TIMEOUT_MS / 1000} s: killed, with what it started. `
      + 'The test that hung is the one after the last one reported above.\n'));
    signalFile(child, 'SIGKILL');
  }, TEST_TIMEOUT_MS);
  const { code, signal } = await closed;
  clearTimeout(guard);
  const report = readDurations(measured);
  rmSync(measured, { force: true });
  const ms = Date.now() - started;
  // The process says how it went by its exit code, which anything in it may set: a
  // process.exit(0) after a failure would pass. The reporter's own account decides too, and in a
  // group, every file must have reached its end.
  let verdict = code ?? 1;
  if (verdict === 0 && !ownReporter) {
    const unfinished = unit.length > 1 ? names.filter((n) => report?.files?.[n] === undefined) : [];
    const why = report === undefined ? 'ended before node:test reported its end (did something call process.exit?)'
      : report.failed > 0 ? `exited 0 although ${report.failed} of its tests failed`
        : unfinished.length > 0 ? `ended before ${unfinished.join(', ')} reached its end` : undefined;
    if (why !== undefined) {
      out.push(Buffer.from(`\n# ${names.join(', ')} ${why}\n`));
      verdict = 1;
    }
  }
  const files = unit.length === 1
    ? [{ file: unit[0], code: verdict, ms, cpuMs: report?.cpuMs }]
    : unit.map((file, i) => {
      const own = report?.files?.[names[i]];
      // a file the group never finished failed with it; one that ran failed when its suite did
      return { file, code: own === undefined ? (verdict || 1) : own.failed > 0 ? 1 : 0, ms: own?.testsMs, cpuMs: own?.cpuMs };
    });
  return { unit, code: verdict, signal, output: Buffer.concat(out), ms, cpuMs: report?.cpuMs, files };
}

const started = Date.now();
const prepared = whole ? prepare() : undefined;
/** Every file's result, and every unit's (its process's output and verdict). */
const results = [];
const ran = [];
const queue = [...plan];
let running = 0;
let lastStart = 0;
let sample = coreTimes();
let idleShare = 0;
const peak = { files: 0 };

await new Promise((finish) => {
  const startNext = () => {
    const unit = queue.shift();
    if (unit === undefined) return;
    running++;
    peak.files = Math.max(peak.files, running);
    lastStart = Date.now();
    void runUnit(unit, plan.length - queue.length).then((u) => {
      running--;
      ran.push(u);
      process.stdout.write(u.output);
      for (const r of u.files) {
        results.push(r);
        const took = r.ms === undefined ? '' : `: ${(r.ms / 1000).toFixed(1)} s`;
        const cpu = r.cpuMs === undefined ? '' : `, ${(r.cpuMs / 1000).toFixed(1)} s CPU`;
        process.stderr.write(`${r.code === 0 ? 'ok  ' : 'FAIL'} ${relative(ROOT, resolve(r.file))}${took}${cpu} (${results.length}/${list.length}, ${running} running)\n`);
      }
      if (u.files.length > 1) process.stderr.write(`     (those ${u.files.length} in one process: ${(u.ms / 1000).toFixed(1)} s)\n`);
      fill();
      if (running === 0 && queue.length === 0) finish();
    });
  };
  const fill = () => {
    while (running < MIN_FILES && queue.length > 0) startNext();
  };
  const timer = setInterval(() => {
    const now = coreTimes();
    if (now && sample && now.total > sample.total) idleShare = 1 - (now.busy - sample.busy) / (now.total - sample.total);
    sample = now;
    if (queue.length > 0 && running < MAX_FILES && idleShare >= IDLE_SHARE && Date.now() - lastStart >= SETTLE_MS) startNext();
    if (queue.length === 0) clearInterval(timer);
  }, SAMPLE_MS);
  fill();
  if (plan.length === 0) { clearInterval(timer); finish(); }
});

// A whole run records how long each file took, for the next run's order.
if (whole && !ownReporter) {
  const byFile = Object.fromEntries(results.sort((a, b) => (b.ms ?? 0) - (a.ms ?? 0)).map((r) => [relative(ROOT, resolve(r.file)), { ms: r.ms, cpuMs: r.cpuMs }]));
  const tmp = `${MEASURED_DURATIONS}.${process.pid}`;
  // written whole, then renamed: a run beside this one never reads half a file
  writeFileSync(tmp, `${JSON.stringify(byFile, null, 1)}\n`);
  renameSync(tmp, MEASURED_DURATIONS);
}
rmSync(scratch, { recursive: true, force: true });
const preparation = await prepared;
// What a test left behind would otherwise hold memory until the machine restarts.
if (testTmp?.own) rmSync(testTmp.dir, { recursive: true, force: true });
if (preparation && preparation.code !== 0) process.stderr.write(preparation.output);

const failed = results.filter((r) => r.code !== 0);
const failedUnits = ran.filter((u) => u.code !== 0);
const cpuMs = ran.reduce((sum, u) => sum + (u.cpuMs ?? 0), 0);
const counts = { pass: 0, fail: 0, skipped: 0 };
for (const u of ran) {
  const own = summary(u.output.toString('utf8'));
  counts.pass += own.pass;
  counts.skipped += own.skipped + own.todo;
  // A file that failed without a failed test (it crashed, could not be imported, or hung past
  // its deadline, or its group's process did) counts as one.
  counts.fail += Math.max(own.fail + own.cancelled, u.files.filter((f) => f.code !== 0).length, u.code === 0 ? 0 : 1);
}
// The failures again, last: a log that keeps only its tail (CI's) still shows why.
for (const u of failedUnits) {
  const names = u.unit.map((f) => relative(ROOT, resolve(f))).join(', ');
  process.stderr.write(`\n--- why ${names} failed ---\n${failureText(u.output.toString('utf8'))}\n`);
}
for (const u of failedUnits) {
  const own = u.files.filter((f) => f.code !== 0);
  for (const r of own) process.stderr.write(`failed: ${relative(ROOT, resolve(r.file))}${u.signal ? ` (${u.signal})` : ''}\n`);
  // every file of a group passed, and then the process failed (something they left crashed it)
  if (own.length === 0) process.stderr.write(`failed: the process of ${u.unit.map((f) => relative(ROOT, resolve(f))).join(', ')} (${u.signal ?? `exit code ${u.code}`})\n`);
}
process.stderr.write(`npm test: ${list.length} files (${failed.length} failed), ${MIN_FILES}–${MAX_FILES} at a time (at most ${peak.files}), `
  + `${((Date.now() - started) / 1000).toFixed(0)} s, ${(cpuMs / 1000).toFixed(0)} s CPU, load ${readLoad()}\n`);
// The whole run's count, as the closing line (every file printed its own above).
process.stdout.write(`tests: ${counts.pass} passed, ${counts.fail} failed, ${counts.skipped} skipped\n`);
process.exit(failed.length > 0 || failedUnits.length > 0 || results.length !== list.length ? 1 : 0);

/** The counts a file's reporter printed last (tap: `# pass 3`, spec: `ℹ pass 3`); zeros when there are none. */
function summary(output) {
  const counts = { pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  for (const m of output.matchAll(/^(?:#|ℹ) (pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}

/**
 * What a failed file's output says about its failures: each `not ok` line of the TAP reporter
 * with its diagnostic block (error, expected, actual, stack), or the output's last lines when
 * there is none (the file crashed, or another reporter was chosen). At most RECAP_LINES lines.
 */
function failureText(output) {
  const lines = output.split('\n');
  const kept = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+ - /.exec(lines[i]);
    if (!m) continue;
    kept.push(lines[i]);
    const end = `${m[1]}  ...`;
    while (++i < lines.length && lines[i] !== end && !/^\s*(?:not )?ok \d+ - /.test(lines[i])) {
      // Node's own stack frames say nothing about the test.
      if (!/node:internal|node:async_hooks|\(<anonymous>\)$/.test(lines[i])) kept.push(lines[i]);
    }
  }
  const text = kept.length > 0 ? kept : lines.slice(-RECAP_LINES);
  return text.slice(0, RECAP_LINES).join('\n');
}

/** Runs scripts/test/prepare.ts; resolves with its exit code and output (printed only when it failed). */
async function prepare() {
  const { out, closed } = startNode(['--import', 'tsx', PREPARE]);
  const { code } = await closed;
  return { code: code ?? 1, output: Buffer.concat(out) };
}

function readLoad() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}
