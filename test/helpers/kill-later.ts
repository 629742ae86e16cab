/**
 * Kills for cleanup hooks, safe against pid reuse: the process (or group) that has a pid now is
 * killed later only if that pid still names it.
 *
 *   cleanup.after(killLater(replicaPid));
 */
import { readFileSync } from 'node:fs';

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* gone */ }
}

/**
 * A SIGKILL for later (a cleanup hook) of the process that has `pid` now: by then it may be gone
 * and its pid given to another process (pid_max is 32768 on some hosts, and a full run starts
 * tens of thousands), so the kill happens only while the pid still names a process started when
 * this one was.
 */
export function killLater(pid: number): () => void {
  const started = startedAt(pid);
  return () => {
    if (started !== undefined && startedAt(pid) === started) signal(pid, 'SIGKILL');
  };
}

/**
 * killLater for a process group led by `pid` (started detached): later, every process still in
 * the group is killed — unless `pid` by then leads another group (its pid reused: a process
 * started at another time), which is left alone.
 */
export function killGroupLater(pid: number): () => void {
  const started = startedAt(pid);
  return () => {
    const now = startedAt(pid);
    if (started === undefined || (now !== undefined && now !== started)) return;
    signal(-pid, 'SIGKILL');
  };
}

/** The start time of `pid` in clock ticks after boot (/proc/<pid>/stat, field 22), or undefined when there is none. */
function startedAt(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
