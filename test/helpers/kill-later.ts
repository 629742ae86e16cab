/**
 * Kills for cleanup hooks, safe against pid reuse: the process (or group) that has a pid now is
 * killed later only if that pid still names it.
 *
 *   cleanup.after(killLater(replicaPid));
 */
import { startTicks } from '../../src/supervisor/run-dir.ts';

/** SIGKILL, SIGSTOP… a process that may already be gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* gone */ }
}

/**
 * A SIGKILL for later (a cleanup hook) of the process that has `pid` now: by then it may be gone
 * and its pid given to another process (pid_max is 32768 on some hosts, and a full run starts
 * tens of thousands), so the kill happens only while the pid still names a process started when
 * this one was.
 */
export function killLater(pid: number): () => void {
  const started = startTicks(pid);
  return () => {
    if (started !== null && startTicks(pid) === started) signal(pid, 'SIGKILL');
  };
}

/**
 * killLater for a process group led by `pid` (started detached): later, every process still in
 * the group is killed — unless `pid` by then leads another group (its pid reused: a process
 * started at another time), which is left alone.
 */
export function killGroupLater(pid: number): () => void {
  const started = startTicks(pid);
  return () => {
    const now = startTicks(pid);
    if (started === null || (now !== null && now !== started)) return;
    signal(-pid, 'SIGKILL');
  };
}
