import { FlexdError } from './errors.ts';

/** SPEC §5: what a user's environment variable may be called. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Names the runtime owns. `SDK_RECEIVER` would switch the SDK away from flexd's receiver,
 * `NODE_OPTIONS` would override the memory cap, the rejection mode and the permission model,
 * `NODE_CHANNEL_*` and `NODE_UNIQUE_ID` would make Node treat a descriptor as an IPC channel
 * (NODE_CHANNEL_SERIALIZATION_MODE broke every replica), `LD_*` would load a library into the
 * replica before Node runs (LD_PRELOAD, LD_LIBRARY_PATH), `NODE_PATH` would change what
 * `require` finds, and `FLEXD_*` is flexd's own namespace. Listed in the README.
 */
export const RESERVED_NAMES = ['SDK_RECEIVER', 'NODE_OPTIONS', 'NODE_PATH', 'NODE_UNIQUE_ID'] as const;
export const RESERVED_PREFIXES = ['FLEXD_', 'NODE_CHANNEL_', 'LD_'] as const;

export function isReservedName(name: string): boolean {
  const upper = name.toUpperCase();
  return (RESERVED_NAMES as readonly string[]).includes(upper) || RESERVED_PREFIXES.some((p) => upper.startsWith(p));
}

/**
 * Checks a whole set of variables before any of it is applied: every name valid and not
 * reserved, every value a string. The error names each offending variable.
 */
export function validateEnvVars(vars: unknown): Record<string, string> {
  if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
    throw new FlexdError('InvalidEnvironmentVariables', 'environmentVariables must be an object of name → string value.', { status: 400 });
  }
  const problems: string[] = [];
  // A Map, not an object literal: a variable named __proto__ must stay a variable.
  const clean = new Map<string, string>();
  for (const [name, value] of Object.entries(vars)) {
    if (!NAME.test(name)) problems.push(`"${name}" is not a valid name (letters, digits and _, not starting with a digit)`);
    else if (isReservedName(name)) problems.push(`"${name}" is reserved by the runtime`);
    else if (typeof value !== 'string') problems.push(`"${name}" must have a string value, not ${value === null ? 'null' : typeof value}`);
    else clean.set(name, value);
  }
  if (problems.length > 0) {
    throw new FlexdError('InvalidEnvironmentVariables', `Environment variables refused: ${problems.join('; ')}.`, { status: 400 });
  }
  return Object.fromEntries(clean);
}
