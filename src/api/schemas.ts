import { z } from 'zod';
import type { ENVIRONMENT_SETTINGS } from '../config.ts';
import type { RuntimeContext } from '../context.ts';
import { FlexdError } from '../errors.ts';

/** Service and environment names: they appear in data-plane URLs (`/flex/{service}/{environment}`). */
const MAX_NAME_CHARS = 128;

export const EntityName = z.string()
  .min(1, 'must not be empty')
  .max(MAX_NAME_CHARS, `must be at most ${MAX_NAME_CHARS} characters`)
  .refine((s) => s.trim() === s, 'must not start or end with whitespace')
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[/\\\u0000-\u001f\u007f]/.test(s), 'must not contain "/", "\\" or control characters');

/** Kinvey's rule for a shared secret: at least 2 characters, no leading or trailing whitespace. */
export const Secret = z.string()
  .min(2, 'must be at least 2 characters')
  .refine((s) => s.trim() === s, 'must not start or end with whitespace');

/**
 * The environment's runtime as flexd stores it (`node22` → `flex-runtime-node22`), checked by
 * name only; 400 `InvalidRuntime` for a name flexd cannot run (src/runtimes/names.ts). Whether the
 * runtime can be had now (installed, or in the registry) is `ctx.runtimes.check`.
 */
export function checkRuntime(ctx: RuntimeContext, runtime: string): string {
  return ctx.runtimes.canonical(runtime);
}

const whole = ([min, max]: readonly [number, number]) => z.number().int().min(min).max(max).optional();

/**
 * The range each per-environment setting may take (docs/configuration.md, Per environment);
 * beyond it a PUT is refused with 400. The upper bounds keep one environment from turning a
 * setting against flexd or its neighbours, and keep every value a working timer:
 * - requestTimeoutMs ≤ 10 min: a request holds a connection and a replica's slot that long;
 *   the hosted runtime allowed 60 s. (Timers past 2^31-1 ms fire at once: 3e9 made every request 504.)
 * - idleTimeoutMs ≤ 7 days (0 = never): beyond that "never" says it better, and it stays a valid timer.
 * - memoryLimitMb 16…8192: below 16 MiB Node cannot start; above 8 GiB one environment could take the host.
 * - replicas ≤ 16 each: two cores' worth of a small VM many times over; more is a different machine.
 */
export const SETTING_BOUNDS = {
  requestTimeoutMs: [1, 10 * 60_000],
  idleTimeoutMs: [0, 7 * 24 * 60 * 60_000],
  memoryLimitMb: [16, 8192],
  minReplicas: [0, 16],
  maxReplicas: [1, 16],
} as const;

/**
 * flexd's own: the knobs one environment may set for itself (config.ts ENVIRONMENT_SETTINGS),
 * overriding the runtime's. Unknown keys are refused, so a typo does not pass silently.
 */
export const EnvironmentSettings = z.strictObject({
  requestTimeoutMs: whole(SETTING_BOUNDS.requestTimeoutMs),
  idleTimeoutMs: whole(SETTING_BOUNDS.idleTimeoutMs),
  memoryLimitMb: whole(SETTING_BOUNDS.memoryLimitMb),
  minReplicas: whole(SETTING_BOUNDS.minReplicas),
  maxReplicas: whole(SETTING_BOUNDS.maxReplicas),
  strictUnhandledRejections: z.boolean().optional(),
  permissionModel: z.boolean().optional(),
} satisfies Record<(typeof ENVIRONMENT_SETTINGS)[number], z.ZodType>);
