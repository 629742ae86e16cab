/**
 * Failed logins per key (an account at a client address, a client address) with growing delays
 * (docs/security.md, "An unauthenticated client"). A key may fail `limit` times freely; after
 * that each further try waits, from its last failure, 1 s, 2 s, 4 s … doubling up to `windowMs`.
 * A key whose last failure is older than `windowMs` starts over. Nothing here ever refuses a key
 * that has not failed itself, so one address can never lock an account out for another.
 *
 * Kept in memory: a restart forgets them, which costs a guesser a restart of flexd — not
 * something an attacker on the network can cause. Only failures are recorded, so the table holds
 * at most the keys that failed within the window (swept on use); every failure costs the
 * guesser a password hash first, which bounds how fast it grows.
 *
 * @example
 *   const t = new LoginThrottle({ limit: 10, windowMs: 900_000 });
 *   t.retryAfterMs('a@b.c 127.0.0.2', now)   // 0 while allowed, else how long until it may try
 *   t.fail('a@b.c 127.0.0.2', now); t.reset('a@b.c 127.0.0.2');
 */
export class LoginThrottle {
  readonly #failures = new Map<string, { count: number; last: number }>();
  #lastSweep = 0;

  constructor(private readonly o: { limit: number; windowMs: number }) {}

  /** 0 when `key` may try now; otherwise the milliseconds until it may. */
  retryAfterMs(key: string, now: number): number {
    const entry = this.#current(key, now);
    if (!entry || entry.count < this.o.limit) return 0;
    return Math.max(0, entry.last + this.delayMs(entry.count) - now);
  }

  /** How long a key waits after its `count`-th failure (count ≥ limit): doubling from 1 s, at most the window. */
  delayMs(count: number): number {
    return Math.min(this.o.windowMs, FIRST_DELAY_MS * 2 ** Math.min(30, count - this.o.limit));
  }

  fail(key: string, now: number): void {
    this.#sweep(now);
    const entry = this.#current(key, now) ?? { count: 0, last: now };
    entry.count++;
    entry.last = now;
    this.#failures.set(key, entry);
  }

  reset(key: string): void {
    this.#failures.delete(key);
  }

  #current(key: string, now: number): { count: number; last: number } | undefined {
    const entry = this.#failures.get(key);
    if (entry && now - entry.last > this.o.windowMs) {
      this.#failures.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Drops keys whose last failure aged out, at most once per window. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.o.windowMs) return;
    this.#lastSweep = now;
    for (const key of [...this.#failures.keys()]) this.#current(key, now);
  }
}

/** The first wait past the free failures; each further failure doubles it. */
const FIRST_DELAY_MS = 1_000;
