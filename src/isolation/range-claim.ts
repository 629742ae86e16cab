import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { FlexdError } from '../errors.ts';
import { runsAsRoot, type AccountRange } from './accounts.ts';
import { listenAbstract, readLockToken } from './private-lock.ts';

/**
 * One flexd per uid: two flexd processes running as root whose ranges share a uid would hand
 * it to environments of both, and the build clean-up of one ends every process of its build
 * uids (deploy/box.ts) — the other's npm install included. Seen in the test suite, where
 * runtimes of several test files run side by side; a host with two harnesses, or two data
 * dirs, meets the same. Ranges overlap whatever their starts: 430000+65536 and 431000+65536
 * share 64536 uids.
 *
 * Each claim is a listening socket in Linux's abstract namespace named after the range (start
 * and size) and a secret token in root's RANGE_TOKEN_FILE (as the data-dir lock; see
 * private-lock.ts): the kernel drops it when the process dies, however it dies, and no other
 * account can know the name to take it first. Beside it, a file `<start>-<size>` in root's
 * CLAIMS_DIR says which ranges are claimed, so a new claim can be checked against every uid of
 * every live one; a file whose socket is gone is a dead flexd's, and is removed. Claims are
 * made one at a time on the host, under another secret-named socket used as a mutex.
 *
 * A range given explicitly (`--uid-range-start`) is claimed or refused; the default one moves
 * up by `uidRangeSize` until it overlaps no live claim.
 */

/** Root's own folder for the host-wide claims of every flexd on this host. */
export const RANGE_TOKEN_FILE = '/run/flexd/uid-range-token';
/** One empty file per live claim, named `<start>-<size>`. */
export const CLAIMS_DIR = join(dirname(RANGE_TOKEN_FILE), 'uid-ranges');

export interface RangeClaim {
  /** the first uid of the range this flexd holds (its build account) */
  readonly start: number;
  release(): Promise<void>;
}

/** How many ranges after the default one are tried before giving up. */
const MAX_RANGE_STEPS = 64;
/** How long a claim waits for another flexd's claim on this host to finish (each takes milliseconds). */
const MUTEX_WAIT_MS = 30_000;

interface Span { start: number; size: number }

export async function claimUidRange(range: AccountRange, explicit: boolean): Promise<RangeClaim> {
  if (!runsAsRoot()) return { start: range.uidRangeStart, release: async () => {} };
  const secret = createHash('sha256').update(await readLockToken(RANGE_TOKEN_FILE)).digest('hex').slice(0, 32);
  const claimName = (span: Span) => `flexd-uid-range-${span.start}+${span.size}-${secret}`;
  const mutex = await holdMutex(`flexd-uid-range-claims-${secret}`);
  try {
    mkdirSync(CLAIMS_DIR, { recursive: true, mode: 0o700 });
    const live = await liveClaims(claimName);
    for (let step = 0; step <= (explicit ? 0 : MAX_RANGE_STEPS); step++) {
      const wanted = { start: range.uidRangeStart + step * range.uidRangeSize, size: range.uidRangeSize };
      if (wanted.start + wanted.size > 0xfffffffe) break;
      const taken = live.find((other) => overlaps(other, wanted));
      if (taken) {
        if (explicit) {
          throw new FlexdError('UidRangeInUse', `the uid range ${spell(wanted)} overlaps the range ${spell(taken)} another flexd on this host holds; give this one a --uid-range-start/--uid-range-size that overlaps no other`, { status: 500 });
        }
        continue;
      }
      // A flexd from before the registry holds only a socket named after its start: held, the range is taken.
      const legacy = await listenAbstract(legacyClaimName(wanted.start, secret));
      if (!legacy) {
        if (explicit) throw new FlexdError('UidRangeInUse', `the uid range from ${wanted.start} is held by an older flexd on this host; give this one another --uid-range-start`, { status: 500 });
        continue;
      }
      const server = await listenAbstract(claimName(wanted));
      if (!server) { // cannot happen under the mutex unless a flexd without the registry holds it
        legacy.close();
        continue;
      }
      const file = join(CLAIMS_DIR, `${wanted.start}-${wanted.size}`);
      writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
      return {
        start: wanted.start,
        release: async () => {
          rmSync(file, { force: true });
          await Promise.all([server, legacy].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
        },
      };
    }
  } finally {
    mutex.close();
  }
  throw new FlexdError('UidRangeInUse', explicit
    ? `the uid range ${spell({ start: range.uidRangeStart, size: range.uidRangeSize })} is held by another process on this host; give this one another --uid-range-start`
    : `no free uid range from ${range.uidRangeStart} on: ${MAX_RANGE_STEPS + 1} ranges overlap ones other flexd processes hold; set --uid-range-start`, { status: 500 });
}

/**
 * The claim of a flexd from before the registry (one socket named after the range's start): this
 * one holds it too, so an older flexd on the same host (during an upgrade) sees the range taken,
 * and this one sees the older one's.
 */
function legacyClaimName(start: number, secret: string): string {
  return `flexd-uid-range-${start}-${secret}`;
}

/** The claims of live flexd processes; the files of dead ones are removed. */
async function liveClaims(claimName: (span: Span) => string): Promise<Span[]> {
  const live: Span[] = [];
  for (const name of readdirSync(CLAIMS_DIR)) {
    const match = /^(\d+)-(\d+)$/.exec(name);
    if (!match) continue;
    const span = { start: Number(match[1]), size: Number(match[2]) };
    const probe = await listenAbstract(claimName(span));
    if (probe) {
      // Its flexd is gone (the kernel dropped its socket): the file is stale.
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      rmSync(join(CLAIMS_DIR, name), { force: true });
    } else {
      live.push(span);
    }
  }
  return live;
}

async function holdMutex(name: string): Promise<Server> {
  const deadline = Date.now() + MUTEX_WAIT_MS;
  for (;;) {
    const server = await listenAbstract(name);
    if (server) return server;
    if (Date.now() > deadline) throw new FlexdError('UidRangeInUse', `could not claim a uid range: another flexd on this host has been claiming one for ${MUTEX_WAIT_MS / 1000} s`, { status: 500 });
    await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
  }
}

function overlaps(a: Span, b: Span): boolean {
  return a.start < b.start + b.size && b.start < a.start + a.size;
}

function spell(span: Span): string {
  return `${span.start}–${span.start + span.size - 1}`;
}
