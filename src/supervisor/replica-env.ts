import { isReservedName } from '../env-vars.ts';
import type { EnvironmentRow } from '../store/index.ts';

/**
 * The environment variables a replica sees: a minimal base (never flexd's own environment,
 * which may hold the admin password), `NODE_ENV` preset to the environment's name, then the
 * user's variables — so a user-set `NODE_ENV` wins, and deleting it returns to the preset.
 * A reserved name (env-vars.ts) is never passed, even one stored before it was reserved.
 */
export function replicaEnvironment(env: Pick<EnvironmentRow, 'name' | 'envVars'>): Record<string, string> {
  const base: Record<string, string> = { NODE_ENV: env.name };
  for (const key of ['PATH', 'LANG', 'TZ'] as const) {
    const value = process.env[key];
    if (value !== undefined) base[key] = value;
  }
  const vars: Record<string, string> = { ...base };
  // Stored before a name was reserved: never passed on (a stored LD_PRELOAD stays inert).
  for (const [name, value] of Object.entries(env.envVars)) if (!isReservedName(name)) vars[name] = value;
  return vars;
}
