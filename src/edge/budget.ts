import { FlexdError } from '../errors.ts';

/**
 * The bytes of request bodies held in memory at once, across every request (issue 9, finding
 * 3: 40 connections without a secret took flexd from 198 MB to 1.1 GB). Each request holds a
 * lease; its body takes bytes as they arrive and the lease gives them all back when the
 * request ends. A body that would pass the capacity is refused with 503 and Retry-After.
 *
 *   const lease = budget.lease();
 *   res.once('close', () => lease.release());
 *   if (!lease.take(chunk.length)) throw overloaded('request bodies');
 */
export class BodyBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  /** Bytes held now, by every lease together. */
  get inUse(): number {
    return this.used;
  }

  lease(): BodyLease {
    let held = 0;
    return {
      take: (bytes) => {
        if (this.used + bytes > this.capacity) return false;
        this.used += bytes;
        held += bytes;
        return true;
      },
      release: () => {
        this.used -= held;
        held = 0;
      },
    };
  }
}

export interface BodyLease {
  /** Takes `bytes` more; false (and nothing taken) when the budget has no room. */
  take(bytes: number): boolean;
  /** Gives back everything this lease took; safe to call more than once. */
  release(): void;
}

/** 503 with Retry-After: flexd is at one of its caps; the client should come back shortly. */
export function overloaded(what: string): FlexdError {
  return new FlexdError('Overloaded', `flexd is holding too many ${what}; try again shortly.`, { status: 503, retryAfterSeconds: 1 });
}
