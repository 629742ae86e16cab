/**
 * Waiting in tests without sleeping: every wait is on a condition or a promise, has a deadline,
 * and names what it waited for, so a hang fails fast with a message that says which step hung.
 *
 *   const ready = await waitFor('replica ready', () => fetch(url).then(r => r.ok, () => false));
 *   const res = await withDeadline('GET /healthcheck', fetch(url), 5_000);
 */

/**
 * Default deadline of a wait: a hang-catcher, long enough for a replica's cold start on this
 * 2-core machine at load 20 (a passing wait ends when its condition holds, never at the deadline).
 */
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
/** Default pause between two polls of a condition. */
export const DEFAULT_POLL_INTERVAL_MS = 20;

export class WaitTimeoutError extends Error {
  constructor(label: string, ms: number, detail?: string) {
    super(`timed out after ${ms} ms waiting for ${label}${detail ? `: ${detail}` : ''}`);
    this.name = 'WaitTimeoutError';
  }
}

/**
 * Polls `predicate` until it returns a truthy value and resolves with that value. A predicate
 * that throws counts as "not yet"; the last error is quoted if the deadline passes. The deadline
 * holds also against a check that never answers (a fetch to a server that stopped reading): the
 * wait fails then, saying so, and that check is left to settle on its own.
 */
export async function waitFor<T>(
  label: string,
  predicate: () => T | Promise<T>,
  { timeoutMs = DEFAULT_WAIT_TIMEOUT_MS, intervalMs = DEFAULT_POLL_INTERVAL_MS }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    let value: T | typeof UNANSWERED | undefined;
    try {
      value = await checkBefore(predicate, deadline);
    } catch (err) {
      lastError = err;
    }
    if (value === UNANSWERED) {
      throw new WaitTimeoutError(label, timeoutMs, `its last check had not answered${lastError === undefined ? '' : ` (the one before: ${String(lastError)})`}`);
    }
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(label, timeoutMs, lastError === undefined ? undefined : String(lastError));
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const UNANSWERED = Symbol('unanswered');

/** One call of `predicate`: its value, or UNANSWERED when `deadline` (a time) passes first. */
async function checkBefore<T>(predicate: () => T | Promise<T>, deadline: number): Promise<T | typeof UNANSWERED> {
  const check = Promise.resolve().then(predicate);
  check.catch(() => {}); // still pending at the deadline: its late rejection is no one's
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof UNANSWERED>((resolve) => { timer = setTimeout(() => resolve(UNANSWERED), Math.max(0, deadline - Date.now())); });
  try {
    return await Promise.race([check, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves or rejects like `promise`, or rejects with a WaitTimeoutError after `ms`. */
export async function withDeadline<T>(label: string, promise: Promise<T>, ms: number = DEFAULT_WAIT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(label, ms)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
