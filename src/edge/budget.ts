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
    return new Lease(this);
  }

  /** Lease's side: takes `bytes` if the capacity allows. */
  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  /** Lease's side: gives `bytes` back. */
  giveBack(bytes: number): void {
    this.used -= bytes;
  }
}

/** One request's share (a class, not closures: one is made for every request). */
class Lease implements BodyLease {
  private held = 0;

  constructor(private readonly budget: BodyBudget) {}

  take(bytes: number): boolean {
    if (!this.budget.tryTake(bytes)) return false;
    this.held += bytes;
    return true;
  }

  release(): void {
    this.budget.giveBack(this.held);
    this.held = 0;
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
