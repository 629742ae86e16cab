/**
 * The request body limit a service's SDK options give its HTTP receiver, read as that receiver
 * reads it: `options.requestBodyLimit || 26214400` handed to body-parser, which takes a number
 * as bytes and a string through `bytes.parse` (`'100kb'`, `'1.5MB'`, `'2048'`; 1024-based). What
 * `bytes.parse` cannot read (`'lots'`, `true`), and NaN, leave the receiver with no limit at all.
 * (Receivers before 2.1.0 ignore the option and allow 4096 bytes: receiver-dialect.ts.)
 */

/** kinvey-code-task-runner's default since 2.1.0: 25 MiB. */
export const DEFAULT_REQUEST_BODY_LIMIT = 26_214_400;

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };
const WITH_UNIT = /^((-|\+)?(\d+(?:\.\d+)?)) *(kb|mb|gb|tb)$/i;

/**
 * Bytes, or null for no limit.
 *
 * @example
 * requestBodyLimit(undefined)  // 26214400
 * requestBodyLimit('1mb')      // 1048576
 * requestBodyLimit('lots')     // null: body-parser then reads any size
 */
export function requestBodyLimit(option: unknown): number | null {
  const limit = option || DEFAULT_REQUEST_BODY_LIMIT;
  if (typeof limit === 'number') return Number.isFinite(limit) ? limit : null;
  if (typeof limit !== 'string') return null;
  const match = WITH_UNIT.exec(limit);
  const value = match ? Number.parseFloat(match[1]) : Number.parseInt(limit, 10);
  const unit = match ? match[4].toLowerCase() : 'b';
  if (Number.isNaN(value)) return null;
  const bytes = Math.floor(UNITS[unit] * value);
  return Number.isFinite(bytes) ? bytes : null;
}
