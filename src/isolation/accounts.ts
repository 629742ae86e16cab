/**
 * The unprivileged accounts flexd runs untrusted code as, when it runs as root (docs/security.md):
 *
 *   uidRangeStart          the build account: npm install, lifecycle scripts, packing the artifact
 *   uidRangeStart + 1 + n  environment slot n: that environment's replicas, and nothing else
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

/** The account builds run as, or undefined when flexd is not root. */
export function buildAccount(range: AccountRange): Account | undefined {
  if (!runsAsRoot()) return undefined;
  return { uid: range.uidRangeStart, gid: range.uidRangeStart };
}

/**
 * The account of the environment holding `slot` (a small number stored with the environment,
 * unique among live environments), or undefined when flexd is not root.
 *
 * @throws RangeError when the slot does not fit in the configured range
 */
export function environmentAccount(range: AccountRange, slot: number): Account | undefined {
  if (!runsAsRoot()) return undefined;
  if (!Number.isInteger(slot) || slot < 0 || slot + 1 >= range.uidRangeSize) {
    throw new RangeError(`environment slot ${slot} does not fit in the uid range ${range.uidRangeStart}+${range.uidRangeSize}`);
  }
  const id = range.uidRangeStart + 1 + slot;
  return { uid: id, gid: id };
}
