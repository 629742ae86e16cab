/**
 * Waiting in tests without sleeping: every wait is on a condition or a promise, has a deadline,
 * and names what it waited for, so a hang fails fast with a message that says which step hung.
 *
 *   const ready = await waitFor('replica ready', () => fetch(url).then(r => r.ok, () => false));
 *   const res = await withDeadline('GET /healthcheck', fetch(url), 5_000);
 */

/** Default deadline of a wait: long enough for a replica's cold start on a slow CI box. */
export const DEFAULT_WAIT_TIMEOUT_MS = 10_000;
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
 * that throws counts as "not yet"; the last error is quoted if the deadline passes.
 */
export async function waitFor<T>(
  label: string,
  predicate: () => T | Promise<T>,
  { timeoutMs = DEFAULT_WAIT_TIMEOUT_MS, intervalMs = DEFAULT_POLL_INTERVAL_MS }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(label, timeoutMs, lastError === undefined ? undefined : String(lastError));
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
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
