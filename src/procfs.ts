/**
 * What Linux's /proc says about a process, for the few facts flexd reads there: its state, parent
 * and start time (`/proc/<pid>/stat`) and its resident memory (`/proc/<pid>/status`). Each answer
 * is undefined when the process is gone or /proc is not there.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * The fields of /proc/<pid>/stat after `pid (comm)`: [0] the state letter (R, S, T, Z…), [1] the
 * parent's pid, [19] the start time in clock ticks since boot. comm may hold spaces and
 * parentheses, so the fields are read after the last `)`.
 */
export function statFields(pid: number): string[] | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The fields of a /proc/<pid>/stat text after `pid (comm)`, numbered as statFields' are. */
export function parseStat(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Resident memory in bytes (VmRSS; also readable for a stopped process). */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
