/**
 * The embedding API's boundary (STYLE.md 4): every argument of every call is checked here, as
 * the management API checks the same values (api/schemas.ts, env-vars.ts), and a wrong one is a
 * FlexdError naming it — never an exception from deeper down. Options objects are strict: an
 * unknown key is a typo (`env: 'Dev'` for `environment`) and is refused rather than ignored.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import semver from 'semver';
import { z } from 'zod';
import { parseWith } from '../api/body.ts';
import { EntityName, Secret } from '../api/schemas.ts';
import { validateEnvVars } from '../env-vars.ts';
import { FlexdError } from '../errors.ts';
import type { WatchOutcome } from '../public.ts';

const TargetShape = { service: EntityName, environment: EntityName };
/**
 * A target may be deployDirectory's options object (one `{ service, environment, secret }` a test
 * passes to every call): their other keys are allowed, and ignored, where only the target counts.
 */
const DeployOnlyKeys = { secret: z.unknown().optional(), env: z.unknown().optional(), version: z.unknown().optional() };

const TargetSchema = z.strictObject({ ...TargetShape, ...DeployOnlyKeys });
const DeployOptionsSchema = z.strictObject({ ...TargetShape, secret: Secret.optional(), env: z.unknown().optional(), version: z.unknown().optional(), runtime: z.string().optional() });
const WatchOptionsSchema = z.strictObject({
  ...TargetShape, secret: Secret.optional(), env: z.unknown().optional(),
  onOutput: z.unknown().optional(), onDeploy: z.unknown().optional(), debounceMs: z.number().int().min(0).max(10_000).optional(),
  runtime: z.string().optional(),
});
const SetVariablesOptionsSchema = z.strictObject({ replace: z.boolean().optional() });
const LogsQuerySchema = z.strictObject({ ...TargetShape, ...DeployOnlyKeys, limit: z.unknown().optional() });

export interface Target { service: string; environment: string }

/** `{ service, environment }`: names (or ids) as the API accepts them. */
export function checkTarget(value: unknown, call: string): Target {
  const { service, environment } = parseWith(TargetSchema, value, `${call}'s target`);
  return { service, environment };
}

export interface CheckedDeploy extends Target {
  dir: string;
  secret?: string;
  env?: Record<string, string>;
  /** an explicit semver version, or 'auto' */
  version?: string;
  /** the Node major to run on, as given (checked by the runtime catalog) */
  runtime?: string;
}

/** deployDirectory's `(dir, options)`. */
export function checkDeploy(dir: unknown, options: unknown): CheckedDeploy {
  const folder = checkFolder(dir, 'deployDirectory');
  const o = parseWith(DeployOptionsSchema, options, "deployDirectory's options");
  return { dir: folder, service: o.service, environment: o.environment, secret: o.secret, env: checkVariables(o.env), version: checkDeployVersion(o.version), runtime: o.runtime };
}

export interface CheckedWatch extends Target {
  dir: string;
  secret?: string;
  env?: Record<string, string>;
  onOutput?: (line: string) => void;
  onDeploy?: (outcome: WatchOutcome) => void;
  debounceMs?: number;
  runtime?: string;
}

/** watch's `(dir, options)`. */
export function checkWatch(dir: unknown, options: unknown): CheckedWatch {
  const folder = checkFolder(dir, 'watch');
  const o = parseWith(WatchOptionsSchema, options, "watch's options");
  for (const hook of ['onOutput', 'onDeploy'] as const) {
    if (o[hook] !== undefined && typeof o[hook] !== 'function') throw new FlexdError('ValidationError', `watch's options is invalid: ${hook} must be a function.`);
  }
  return {
    dir: folder, service: o.service, environment: o.environment, secret: o.secret, env: checkVariables(o.env), debounceMs: o.debounceMs,
    onOutput: o.onOutput as CheckedWatch['onOutput'], onDeploy: o.onDeploy as CheckedWatch['onDeploy'], runtime: o.runtime,
  };
}

/** setVariables' `(vars, options?)`: the same rules as the API's environmentVariables. */
export function checkSetVariables(vars: unknown, options: unknown): { vars: Record<string, string>; replace: boolean } {
  const o = options === undefined ? {} : parseWith(SetVariablesOptionsSchema, options, "setVariables' options");
  return { vars: validateEnvVars(vars), replace: o.replace ?? false };
}

/** A version to roll back to: a non-empty string (semver, as stored; `v1.0.0` is read as `1.0.0`). */
export function checkStoredVersion(version: unknown, call: string): string {
  if (typeof version !== 'string' || version.trim() === '') {
    throw new FlexdError('InvalidVersion', `${call}'s version must be a version string such as "1.0.0", not ${describeValue(version)}.`);
  }
  const valid = semver.valid(version);
  if (valid === null) throw new FlexdError('InvalidVersion', `${call}'s version "${version}" is not a semver version such as 1.0.0.`);
  return valid;
}

/** logs' query: the target and a limit of 1…max lines. */
export function checkLogsQuery(query: unknown, defaultLimit: number, maxLimit: number): Target & { limit: number } {
  const o = parseWith(LogsQuerySchema, query, "logs' query");
  const limit = o.limit ?? defaultLimit;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw new FlexdError('InvalidLogQuery', `limit must be a whole number from 1 to ${maxLimit}, not ${describeValue(limit)}`);
  }
  return { service: o.service, environment: o.environment, limit };
}

function checkVariables(env: unknown): Record<string, string> | undefined {
  return env === undefined ? undefined : validateEnvVars(env);
}

function checkDeployVersion(version: unknown): string | undefined {
  if (version === undefined || version === 'auto') return version;
  if (typeof version !== 'string') throw new FlexdError('InvalidVersion', `version must be a semver string such as "1.0.1" or 'auto', not ${describeValue(version)}.`);
  const valid = semver.valid(version);
  if (!valid) throw new FlexdError('InvalidVersion', `version "${version}" is not a semver version such as 1.0.0 (or 'auto').`);
  return valid;
}

/** A project folder that exists; resolved against the current directory. */
function checkFolder(dir: unknown, call: string): string {
  if (typeof dir !== 'string' || dir === '') throw new FlexdError('ValidationError', `${call}'s folder must be a path, not ${describeValue(dir)}.`);
  const full = resolve(dir);
  let isFolder = false;
  try {
    isFolder = statSync(full).isDirectory();
  } catch { /* missing: said below */ }
  if (!isFolder) throw new FlexdError('InvalidProject', `${call}: no project folder at ${full}.`);
  return full;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}
