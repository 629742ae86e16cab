/**
 * Failed logins per key (an account's e-mail, a client address) in a sliding window. Kept in
 * memory: a restart forgets them, which costs a guesser a restart of flexd — not something an
 * attacker on the network can cause. Only failures are recorded, so the tables hold at most the
 * keys that failed within the window (swept on use).
 *
 * @example
 *   const t = new LoginThrottle({ limit: 10, windowMs: 900_000 });
 *   t.retryAfterMs('a@b.c', now)   // 0 while allowed, else how long until the oldest failure ages out
 *   t.fail('a@b.c', now); t.reset('a@b.c');
 */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();
  #lastSweep = 0;

  constructor(private readonly o: { limit: number; windowMs: number }) {}

  /** 0 when `key` may try now; otherwise the milliseconds until it may. */
  retryAfterMs(key: string, now: number): number {
    const times = this.#recent(key, now);
    if (times.length < this.o.limit) return 0;
    return Math.max(1, times[times.length - this.o.limit] + this.o.windowMs - now);
  }

  fail(key: string, now: number): void {
    this.#sweep(now);
    const times = this.#recent(key, now);
    times.push(now);
    // Only the last `limit` failures decide anything: an attacker cannot grow the list.
    if (times.length > this.o.limit) times.splice(0, times.length - this.o.limit);
    this.#failures.set(key, times);
  }

  reset(key: string): void {
    this.#failures.delete(key);
  }

  #recent(key: string, now: number): number[] {
    const times = (this.#failures.get(key) ?? []).filter((t) => t > now - this.o.windowMs);
    if (times.length === 0) this.#failures.delete(key);
    return times;
  }

  /** Drops keys whose failures all aged out, at most once per window. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.o.windowMs) return;
    this.#lastSweep = now;
    for (const key of [...this.#failures.keys()]) this.#recent(key, now);
  }
}
