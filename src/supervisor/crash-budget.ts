/**
 * Counts a pool's crashes: how long to wait before the next restart (immediate, then doubling
 * from `baseMs` up to `maxMs`; back to immediate after `resetMs` of health) and whether the
 * budget is spent (more than `budget` crashes within `windowMs` → suspend).
 */
export class CrashBudget {
  private crashes: number[] = [];
  private consecutive = 0;
  private lastCrashAt = 0;

  constructor(private readonly o: { budget: number; windowMs: number; baseMs: number; maxMs: number; resetMs: number }) {}

  /** Records a crash at `now`; returns the delay before the replacement starts, or null to suspend. */
  record(now: number): number | null {
    if (now - this.lastCrashAt > this.o.resetMs) this.consecutive = 0;
    this.lastCrashAt = now;
    this.consecutive++;
    this.crashes = this.crashes.filter((t) => now - t < this.o.windowMs);
    this.crashes.push(now);
    if (this.crashes.length > this.o.budget) return null;
    if (this.consecutive === 1) return 0;
    return Math.min(this.o.baseMs * 2 ** (this.consecutive - 2), this.o.maxMs);
  }

  get recent(): number {
    return this.crashes.length;
  }

  reset(): void {
    this.crashes = [];
    this.consecutive = 0;
    this.lastCrashAt = 0;
  }
}
