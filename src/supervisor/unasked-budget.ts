const UNASKED_BURST = 1_000;
const UNASKED_PER_SECOND = 100;

/**
 * A token bucket for the messages a replica sends unasked: UNASKED_BURST at once, refilled at
 * UNASKED_PER_SECOND. Past it the replica is flooding flexd's main thread and is killed.
 */
export class UnaskedBudget {
  private tokens = UNASKED_BURST;
  private at = 0;

  spend(now: number): boolean {
    this.tokens = Math.min(UNASKED_BURST, this.tokens + ((now - this.at) / 1000) * UNASKED_PER_SECOND);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

