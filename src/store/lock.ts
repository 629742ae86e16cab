import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { FlexdError } from '../errors.ts';
import { abstractAddress, listenAbstract, readLockToken } from '../isolation/private-lock.ts';

/**
 * One flexd per data directory (issue 9, finding 7: two of them both restored and ran every
 * environment, and after a deploy through one the other served the old version).
 *
 * The lock is a listening Unix socket in Linux's abstract namespace: the kernel removes it when
 * its process dies, however it dies, so a `kill -9` leaves nothing stale behind, and binding it
 * is atomic. Its name comes from the data dir's real path and a secret token kept in the data
 * dir (isolation/private-lock.ts): every flexd on this data dir binds the same name, and no
 * other account can know it to take it first (issue 15, finding 5). A second flexd finds the
 * name taken and asks the holder for its pid, for the message.
 *
 * Abstract names are per network namespace: two containers that share the data dir on a volume
 * but not a network namespace do not see each other's lock (docs/security.md).
 */
export interface DataDirLock {
  release(): Promise<void>;
}

/** The file in the data dir that holds the lock's secret (0600). */
export const LOCK_TOKEN_FILE = 'lock-token';

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const real = realpathSync(dataDir);
  let token: string;
  try {
    token = await readLockToken(join(real, LOCK_TOKEN_FILE));
  } catch (err) {
    throw new FlexdError('DataDirUnsafe', `cannot lock the data dir ${real}: ${(err as Error).message}`, { status: 500 });
  }
  const name = `flexd-data-dir-${createHash('sha256').update(real).update('\0').update(token).digest('hex').slice(0, 40)}`;
  const server = await listenAbstract(name);
  if (!server) {
    const pid = await holderPid(abstractAddress(name));
    throw new FlexdError('DataDirInUse',
      `the data dir ${real} is in use by another flexd${pid ? ` (pid ${pid})` : ''}; stop it first or pick another --data-dir`, { status: 500 });
  }
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Asks the lock's holder for its pid; undefined when it does not say within a moment. */
function holderPid(name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(name);
    const done = (pid: number | undefined) => { clearTimeout(timer); socket.destroy(); resolve(pid); };
    const timer = setTimeout(() => done(undefined), HOLDER_ANSWER_MS);
    socket.on('data', (d) => { text += d; });
    socket.on('end', () => { const n = Number.parseInt(text, 10); done(Number.isInteger(n) && n > 0 ? n : undefined); });
    socket.on('error', () => done(undefined));
  });
}

/** The holder answers from its event loop; a busy one may take a moment, and the pid is only for the message. */
const HOLDER_ANSWER_MS = 1_000;
