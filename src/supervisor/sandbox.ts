import { chmodSync, chownSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { silentLogger, type Logger } from '../logger.ts';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Where replicas live and as whom they run. When flexd runs as root, replicas run as an
 * unprivileged account (default `nobody`, or FLEXD_REPLICA_USER) — the hosted runtime ran
 * services "under heavily-restricted user accounts". Such a replica can write only in its own
 * working directory and cannot read flexd's database: the data dir is made 0711 (enter, not
 * list), the database files stay private, and what replicas must read (artifacts, the child
 * entry) lives in a run directory they can traverse.
 */
export interface Sandbox {
  /** holds artifacts/, replicas/ and the child entry */
  runDir: string;
  uid?: number;
  gid?: number;
}

export function prepareSandbox(dataDir: string, log: Logger = silentLogger, user = process.env.FLEXD_REPLICA_USER ?? 'nobody'): Sandbox {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { runDir: dataDir };
  }
  const account = lookupUser(user);
  if (!account) {
    log.warn({ user }, 'running as root but the replica user does not exist; replicas run as root (set FLEXD_REPLICA_USER)');
    return { runDir: dataDir };
  }
  chmodSync(dataDir, 0o711);
  // The replicas must reach the run dir through every ancestor; under the data dir only if they can.
  const runDir = traversableByOthers(dataDir) ? join(dataDir, 'run')
    : join(tmpdir(), `flexd-run-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
  mkdirSync(runDir, { recursive: true, mode: 0o711 });
  chmodSync(runDir, 0o711);
  return { runDir, uid: account.uid, gid: account.gid };
}

/** A fresh working directory only the replica's account can write. */
export function makeReplicaDir(dir: string, sandbox: Sandbox): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (sandbox.uid !== undefined) chownSync(dir, sandbox.uid, sandbox.gid ?? sandbox.uid);
}

function traversableByOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

function lookupUser(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':');
      if (user === name) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch { /* no passwd file: not a system we can drop privileges on */ }
  return undefined;
}
