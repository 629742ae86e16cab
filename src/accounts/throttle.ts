import { createHash } from 'node:crypto';
import type { LoginThrottleStore } from '../store/login-throttle.ts';

/**
 * Failed logins per key (an account at a client address, a client address) with growing delays
 * (docs/security.md, "An unauthenticated client"). A key may fail `limit` times freely; after
 * that each further try waits, from its last failure, 1 s, 2 s, 4 s … doubling up to `windowMs`.
 * A key whose last failure is older than `windowMs` starts over. Nothing here ever refuses a key
 * that has not failed itself, so one address can never lock an account out for another.
 *
 * The counts live in the database (store/login-throttle.ts): every node of one PostgreSQL sees
 * the failures made through the others, and a restart forgets nothing. Keys are stored as
 * hashes (no e-mail or address in the table). Only failures are recorded, so the table holds at
 * most the keys that failed within the window (swept on use); every failure costs the guesser a
 * password hash first, which bounds how fast it grows.
 *
 * @example
 *   const t = new LoginThrottle({ limit: 10, windowMs: 900_000, scope: 'account', state: store.loginThrottle });
 *   await t.retryAfterMs('a@b.c 127.0.0.2', now)   // 0 while allowed, else how long until it may try
 *   await t.fail('a@b.c 127.0.0.2', now); await t.reset('a@b.c 127.0.0.2');
 */
export class LoginThrottle {
  #lastSweep = 0;

  constructor(private readonly o: { limit: number; windowMs: number; scope: string; state: LoginThrottleStore }) {}

  /** 0 when `key` may try now; otherwise the milliseconds until it may. */
  async retryAfterMs(key: string, now: number): Promise<number> {
    const entry = await this.o.state.get(this.o.scope, hashed(key));
    if (!entry || now - entry.lastAt > this.o.windowMs || entry.failures < this.o.limit) return 0;
    return Math.max(0, entry.lastAt + this.delayMs(entry.failures) - now);
  }

  /** How long a key waits after its `count`-th failure (count ≥ limit): doubling from 1 s, at most the window. */
  delayMs(count: number): number {
    return Math.min(this.o.windowMs, FIRST_DELAY_MS * 2 ** Math.min(30, count - this.o.limit));
  }

  async fail(key: string, now: number): Promise<void> {
    await this.#sweep(now);
    await this.o.state.fail(this.o.scope, hashed(key), now, this.o.windowMs);
  }

  async reset(key: string): Promise<void> {
    await this.o.state.reset(this.o.scope, hashed(key));
  }

  /** Drops keys whose last failure aged out, at most once per window (per node). */
  async #sweep(now: number): Promise<void> {
    if (now - this.#lastSweep < this.o.windowMs) return;
    this.#lastSweep = now;
    await this.o.state.sweep(now - this.o.windowMs);
  }
}

/** A key as stored: its SHA-256 (keys hold an e-mail, an address and a NUL, none of which the table needs to see). */
function hashed(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The first wait past the free failures; each further failure doubles it. */
const FIRST_DELAY_MS = 1_000;
