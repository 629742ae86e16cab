// A node:test reporter that writes nothing to the console. scripts/test.mjs runs each test file in
// a Node process of its own with this reporter; when the file's tests end it writes, as
// JSON to its destination, how many tests failed (failed), how long the file's top-level tests
// ran (testsMs) and the CPU time of
// the file's whole process tree (cpuMs): the test file's process's own (the reporter runs in it)
// and that of every child it waited for — the runtimes, replicas, npm and CLIs it started (Linux
// /proc; elsewhere cpuMs is left out).
import { readFileSync } from 'node:fs';

/** Linux counts process times in clock ticks of 1/100 s (USER_HZ) on every architecture it runs on. */
const TICK_MS = 10;

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
  for await (const event of source) {
    if (event.type === 'test:fail') failed++;
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      testsMs += event.data.details?.duration_ms ?? 0;
    }
  }
  yield `${JSON.stringify({ testsMs: Math.round(testsMs), cpuMs: treeCpuMs(), failed })}\n`;
}
