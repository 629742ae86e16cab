/**
 * The process table as tests read it (Linux /proc): whether a process is gone, a process's
 * children and descendants, and every process with its parent and command line.
 *
 *   assert.ok(await processGone(replicaPid));
 *   const npm = (await descendantsOf(launcher.pid)).find((p) => p.cmdline.includes('npm'));
 */
import { readdir, readFile } from 'node:fs/promises';
import { parseStat } from '../../src/procfs.ts';

export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** the state letter of /proc/<pid>/stat: R, S, D, T (stopped), Z (exited, not yet reaped)… */
  state: string;
  /** the arguments, joined by spaces ('' for a kernel thread or a zombie) */
  cmdline: string;
}

/**
 * True when no process `pid` runs any more. A zombie (exited, not yet reaped — an orphan
 * waits for init to reap it, and a container's init may be slow) counts as gone. A pid that is
 * not a positive integer (a field a failed call left undefined) throws: no /proc entry would
 * exist for it, and "gone" would hold whatever happened.
 */
export async function processGone(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) throw new TypeError(`processGone: ${String(pid)} is not a pid`);
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'))[0] === 'Z';
  } catch {
    return true;
  }
}

/** Every process now, read from /proc (one that ends while it is read is left out). */
export async function processTable(): Promise<ProcessEntry[]> {
  const table: ProcessEntry[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [state, ppid] = parseStat(await readFile(`/proc/${entry}/stat`, 'utf8'));
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replace(/\0/g, ' ').trim();
      table.push({ pid: Number(entry), ppid: Number(ppid), state: state!, cmdline });
    } catch { /* gone meanwhile */ }
  }
  return table;
}

/** Processes whose parent is `pid` (zombies included: see processGone). */
export async function childrenOf(pid: number): Promise<number[]> {
  return (await processTable()).filter((p) => p.ppid === pid).map((p) => p.pid);
}

/** Every descendant of `pid`, nearest first. */
export async function descendantsOf(pid: number): Promise<ProcessEntry[]> {
  const table = await processTable();
  const found: ProcessEntry[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const child of table.filter((p) => p.ppid === parent)) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}
