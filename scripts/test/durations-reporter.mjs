// A node:test reporter that writes nothing to the console. scripts/test.mjs runs each test file,
// or each group of files (scripts/test/group.mjs), in a Node process of its own with this
// reporter; when the process's tests end it writes, as JSON to its destination, how many tests
// failed (failed), how long its top-level tests ran (testsMs) and the CPU time of the process's
// whole tree (cpuMs): the process's own (the reporter runs in it) and that of every child it
// waited for — the runtimes, replicas, npm and CLIs it started (Linux /proc; elsewhere cpuMs is
// left out).
//
// In a group, each file's tests run inside a top-level suite named by the file's path, and the
// files run one after the other, so `files` also gives each file's own account: its suite's
// duration, its failures (a suite fails when one of its tests failed or the file could not be
// imported), and the CPU the tree used between the end of the file before it and its own end.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Linux counts process times in clock ticks of 1/100 s (USER_HZ) on every architecture it runs on. */
const TICK_MS = 10;
const GROUP = fileURLToPath(new URL('group.mjs', import.meta.url));

function treeCpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // "pid (comm) state ppid …": utime, stime, cutime, cstime are fields 14–17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) * TICK_MS;
  } catch {
    return undefined;
  }
}

export default async function* durations(source) {
  let testsMs = 0;
  let failed = 0;
  /** Failures reported since the last file of a group ended: they are the next file's. */
  let failedInFile = 0;
  let cpuAtLastFile = 0;
  const files = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, name, details } = event.data;
    const fileSuite = nesting === 0 && file === GROUP;
    if (event.type === 'test:fail' && !fileSuite) {
      failed++;
      failedInFile++;
    }
    if (nesting === 0 && file) testsMs += details?.duration_ms ?? 0;
    if (fileSuite) {
      const cpu = treeCpuMs();
      // A file that could not be imported fails its suite without a failed test of its own.
      const fileFailed = event.type === 'test:fail' ? Math.max(1, failedInFile) : failedInFile;
      if (event.type === 'test:fail' && failedInFile === 0) failed++;
      files[name] = { testsMs: Math.round(details?.duration_ms ?? 0), cpuMs: cpu === undefined ? undefined : cpu - cpuAtLastFile, failed: fileFailed };
      cpuAtLastFile = cpu ?? 0;
      failedInFile = 0;
    }
  }
  yield `${JSON.stringify({ testsMs: Math.round(testsMs), cpuMs: treeCpuMs(), failed, files })}\n`;
}
