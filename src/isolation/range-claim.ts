import { createHash } from 'node:crypto';
import { FlexdError } from '../errors.ts';
import { runsAsRoot, type AccountRange } from './accounts.ts';
import { listenAbstract, readLockToken } from './private-lock.ts';

/**
 * One flexd per uid range on a host. Two flexd processes running as root with the same range
 * would hand the same uid to environments of both, and the build account of one ends every
 * process of that uid after a build (deploy/box.ts) — the other's npm install included. Seen in
 * the test suite, where runtimes of several test files run side by side; a host with two
 * harnesses, or two data dirs, meets the same.
 *
 * The claim is a listening socket in Linux's abstract namespace named after the range's start
 * and a secret token in root's RANGE_TOKEN_FILE (as the data-dir lock, store/lock.ts; see
 * private-lock.ts): the kernel drops it when the process dies, however it dies, and no other
 * account can know the name to take it first. A range given explicitly (`--uid-range-start`)
 * is claimed or refused; the default one moves up by `uidRangeSize` until a free one is found.
 */

/** Root's own folder for the host-wide claims of every flexd on this host. */
export const RANGE_TOKEN_FILE = '/run/flexd/uid-range-token';
export interface RangeClaim {
  /** the first uid of the range this flexd holds (its build account) */
  readonly start: number;
  release(): Promise<void>;
}

/** How many ranges after the default one are tried before giving up. */
const MAX_RANGE_STEPS = 64;

export async function claimUidRange(range: AccountRange, explicit: boolean): Promise<RangeClaim> {
  if (!runsAsRoot()) return { start: range.uidRangeStart, release: async () => {} };
  const token = await readLockToken(RANGE_TOKEN_FILE);
  for (let step = 0; step <= (explicit ? 0 : MAX_RANGE_STEPS); step++) {
    const start = range.uidRangeStart + step * range.uidRangeSize;
    if (start + range.uidRangeSize > 0xfffffffe) break;
    const server = await listenAbstract(`flexd-uid-range-${start}-${createHash('sha256').update(token).digest('hex').slice(0, 32)}`);
    if (server) return { start, release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }
  throw new FlexdError('UidRangeInUse', explicit
    ? `the uid range ${range.uidRangeStart}–${range.uidRangeStart + range.uidRangeSize - 1} is used by another flexd on this host; give this one another --uid-range-start`
    : `no free uid range from ${range.uidRangeStart} on: ${MAX_RANGE_STEPS + 1} other flexd processes hold them; set --uid-range-start`, { status: 500 });
}
