/**
 * The machine's memory budget for replicas (docs/security.md, "A deployer"): each environment
 * may hold up to `maxReplicas × memoryLimitMb` (its replicas at their cap), and the sum over all
 * environments may not pass the budget — by default the machine's physical memory less a reserve
 * for flexd itself and the system (`--memory-budget-mb` sets it). Settings are bounded per field
 * too (configuration.md); without the sum, one deployer could reserve 16 × 8 GiB on a 24 GB box.
 *
 * A change that would pass it (a new environment, new settings) is refused with
 * `400 MemoryBudgetExceeded`, naming the budget and what is in use; nothing is stored.
 */
import { totalmem } from 'node:os';
import { resolveSettings, type EnvironmentSettings, type Settings } from '../config.ts';
import { FlexdError } from '../errors.ts';

const MIB = 1024 * 1024;
/** Kept back for flexd, the page cache and the system when the budget is not set. */
const RESERVE_MB_MIN = 1_024;
const RESERVE_SHARE = 0.1;

/** The budget in MB: `memoryBudgetMb` when set, else physical memory less max(1 GiB, 10 %). */
export function memoryBudgetMb(settings: Pick<Settings, 'memoryBudgetMb'>): number {
  if (settings.memoryBudgetMb > 0) return settings.memoryBudgetMb;
  const total = Math.floor(totalmem() / MIB);
  return Math.max(0, total - Math.max(RESERVE_MB_MIN, Math.ceil(total * RESERVE_SHARE)));
}

/** What one environment may hold: maxReplicas × memoryLimitMb, its own settings over flexd's. */
export function reservedMb(defaults: Settings, own: EnvironmentSettings | null | undefined): number {
  const s = resolveSettings({ ...defaults, ...(own ?? {}) });
  return Math.max(1, s.maxReplicas, s.minReplicas) * s.memoryLimitMb;
}

/**
 * Refuses `change` — environment `environmentId` (undefined: a new one) with settings `settings`
 * — when the sum over every environment would pass the budget.
 *
 * @throws FlexdError `MemoryBudgetExceeded` (400)
 */
export function checkMemoryBudget(defaults: Settings, environments: { id: string; settings?: EnvironmentSettings | null }[], change: { environmentId?: string; settings: EnvironmentSettings | null | undefined }): void {
  const budget = memoryBudgetMb(defaults);
  const others = environments.filter((e) => e.id !== change.environmentId).reduce((sum, e) => sum + reservedMb(defaults, e.settings), 0);
  const wanted = reservedMb(defaults, change.settings);
  if (others + wanted <= budget) return;
  throw new FlexdError('MemoryBudgetExceeded',
    `This environment would hold up to ${wanted} MB (maxReplicas × memoryLimitMb); the other environments hold up to ${others} MB `
    + `and the machine's budget is ${budget} MB (--memory-budget-mb). Lower maxReplicas or memoryLimitMb.`,
    { status: 400, debug: `budget ${budget} MB, held by other environments ${others} MB, requested ${wanted} MB` });
}
