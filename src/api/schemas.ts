import { z } from 'zod';
import type { ENVIRONMENT_SETTINGS } from '../config.ts';
import type { RuntimeContext } from '../context.ts';
import { FlexdError } from '../errors.ts';
import { isKnownRuntime, KINVEY_RUNTIMES } from '../supervisor/runtimes.ts';

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

/** The environment's runtime, from the names kinvey-cli sends or those configured at `serve`; 400 `InvalidRuntime` otherwise. */
export function checkRuntime(ctx: RuntimeContext, runtime: string): string {
  if (isKnownRuntime(runtime, ctx.runtimes)) return runtime;
  const known = [...KINVEY_RUNTIMES, ...Object.keys(ctx.runtimes ?? {})];
  throw new FlexdError('InvalidRuntime', `Unknown runtime "${runtime}". Use one of: ${known.join(', ')}.`, { status: 400 });
}

const whole = (min: number) => z.number().int().min(min).optional();

/**
 * flexd's own: the knobs one environment may set for itself (config.ts ENVIRONMENT_SETTINGS),
 * overriding the runtime's. Unknown keys are refused, so a typo does not pass silently.
 */
export const EnvironmentSettings = z.strictObject({
  requestTimeoutMs: whole(1),
  idleTimeoutMs: whole(0),
  memoryLimitMb: whole(1),
  minReplicas: whole(0),
  maxReplicas: whole(1),
  strictUnhandledRejections: z.boolean().optional(),
  permissionModel: z.boolean().optional(),
} satisfies Record<(typeof ENVIRONMENT_SETTINGS)[number], z.ZodType>);
