/**
 * The unprivileged accounts flexd runs untrusted code as, when it runs as root (docs/security.md):
 *
 *   uidRangeStart          the fetch account: npm fetching and laying out packages, scripts off;
 *                          owns npm's shared cache
 *   uidRangeStart + 1 + n  environment slot n: that environment's replicas, and nothing else
 *   the top BUILD_UIDS     one fresh uid per build, in turn: lifecycle scripts and packing
 *                          (src/isolation/build-namespace.ts); never the owner of anything shared
 *
 * Accounts are numeric (no /etc/passwd entry is needed): uid and gid are the same number. The
 * range must not overlap real accounts on the host; `uidRangeStart`/`uidRangeSize` are settings.
 * When flexd is not root there is no account to switch to: every function here returns undefined
 * and the other walls (minimal environment, the permission model, private directories) still hold.
 */
export interface Account {
  uid: number;
  gid: number;
}

export interface AccountRange {
  uidRangeStart: number;
  uidRangeSize: number;
}

/** True when flexd can switch accounts (it runs as root). */
export function runsAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The account npm fetches packages as (scripts off; it owns npm's cache), or undefined when flexd is not root. */
export function buildAccount(range: AccountRange): Account | undefined {
  if (!runsAsRoot()) return undefined;
  return { uid: range.uidRangeStart, gid: range.uidRangeStart };
}

/**
 * The uids builds take in turn, one per build: the top tenth of the range (at most 1 000, at
 * least 1). Builds run one at a time; a uid comes round again only after every process of its
 * last build is gone (the build's pid namespace, and flexd's sweep at start).
 */
export function buildUids(range: AccountRange): { first: number; count: number } {
  const count = Math.max(1, Math.min(1_000, Math.floor(range.uidRangeSize / 10)));
  return { first: range.uidRangeStart + range.uidRangeSize - count, count };
}

/** The account of build number `n` (a counter), or undefined when flexd is not root. */
export function buildIdentity(range: AccountRange, n: number): Account | undefined {
  if (!runsAsRoot()) return undefined;
  const { first, count } = buildUids(range);
  const id = first + (n % count);
  return { uid: id, gid: id };
}

/**
 * The account of the environment holding `slot` (a small number stored with the environment,
 * unique among live environments), or undefined when flexd is not root.
 *
 * @throws RangeError when the slot does not fit in the configured range
 */
export function environmentAccount(range: AccountRange, slot: number): Account | undefined {
  if (!runsAsRoot()) return undefined;
  if (!Number.isInteger(slot) || slot < 0 || range.uidRangeStart + 1 + slot >= buildUids(range).first) {
    throw new RangeError(`environment slot ${slot} does not fit in the uid range ${range.uidRangeStart}+${range.uidRangeSize}`);
  }
  const id = range.uidRangeStart + 1 + slot;
  return { uid: id, gid: id };
}
