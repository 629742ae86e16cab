import { isDeepStrictEqual } from 'node:util';
import type { EnvironmentRow } from '../store/index.ts';

/**
 * What an update changed in an environment, as short phrases for the `environment-changed`
 * event: variable and setting names with how they changed, never a value (variables hold
 * secrets); the secret only as "secret changed".
 *
 * @example environmentChanges(before, after)
 *   // ['variables: API_KEY added, OLD removed', 'settings: memoryLimitMb 256 → 512']
 */
export function environmentChanges(before: EnvironmentRow, after: EnvironmentRow): string[] {
  const changes: string[] = [];
  const vars = keyChanges(before.envVars, after.envVars);
  if (vars.length > 0) changes.push(`variables: ${vars.join(', ')}`);
  const settings = Object.keys({ ...before.settings, ...after.settings }).sort()
    .filter((k) => before.settings[k] !== after.settings[k])
    .map((k) => `${k} ${before.settings[k] ?? 'default'} → ${after.settings[k] ?? 'default'}`);
  if (settings.length > 0) changes.push(`settings: ${settings.join(', ')}`);
  if (before.secret !== after.secret) changes.push('secret changed');
  if (before.name !== after.name) changes.push(`renamed from ${before.name}`);
  if (before.runtime !== after.runtime) changes.push(`runtime ${before.runtime ?? 'default'} → ${after.runtime ?? 'default'}`);
  if (!isDeepStrictEqual(before.description, after.description)) changes.push('description changed');
  return changes;
}

/** `NAME added`, `NAME changed`, `NAME removed`, names sorted. */
function keyChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys({ ...before, ...after }).sort().flatMap((k) => {
    if (!(k in before)) return [`${k} added`];
    if (!(k in after)) return [`${k} removed`];
    return before[k] === after[k] ? [] : [`${k} changed`];
  });
}
