import { FlexdError } from '../errors.ts';

/** kinvey-cli's documented page size: default 100 lines, at most 2000 (KINVEY-CLI.md §5) */
export const DEFAULT_LOG_LIMIT = 100;
export const MAX_LOG_LIMIT = 2000;

export type LogQuery =
  | { kind: 'page'; from?: string; to?: string; limit: number; page: number }
  /** flexd's `afterId=N`: the lines after the one with `_id` N, for `flexd logs --follow` */
  | { kind: 'after'; afterId: number; limit: number }
  /** flexd's `tail=N`: the newest N lines, oldest of them first (`flexd logs`, as `tail -n N`) */
  | { kind: 'tail'; limit: number };

/**
 * Parses `from`, `to`, `limit`, `page` (and flexd's `afterId` and `tail`) from the raw query string.
 * Without `tail` or `afterId` it is kinvey-cli's paging, oldest line first, unchanged.
 * kinvey-cli concatenates `from`/`to` into the URL without encoding them, so `+02:00` arrives
 * as a literal `+`: it is read as `+` here (URLSearchParams and hono would read a space).
 * `from`/`to` are returned as UTC ISO strings, the form log timestamps are stored in.
 * A `limit` over MAX_LOG_LIMIT is refused, not clamped, so a script never silently gets fewer lines.
 *
 * @example parseLogQuery('from=2024-05-01T14:00:00+02:00&limit=10') // { kind: 'page', from: '2024-05-01T12:00:00.000Z', limit: 10, page: 1 }
 * @throws FlexdError `InvalidLogQuery` (400) naming the parameter
 */
export function parseLogQuery(rawQuery: string): LogQuery {
  const params = rawParams(rawQuery);
  if (params.has('tail')) {
    const clash = ['from', 'to', 'page', 'afterId', 'limit'].filter((k) => params.has(k));
    if (clash.length > 0) throw invalid(`tail cannot be combined with ${clash.join(', ')}.`);
    return { kind: 'tail', limit: integer(params, 'tail', 1, MAX_LOG_LIMIT) };
  }
  const limit = params.has('limit') ? integer(params, 'limit', 1, MAX_LOG_LIMIT) : DEFAULT_LOG_LIMIT;
  if (params.has('afterId')) {
    const clash = ['from', 'to', 'page'].filter((k) => params.has(k));
    if (clash.length > 0) throw invalid(`afterId cannot be combined with ${clash.join(', ')}.`);
    return { kind: 'after', afterId: integer(params, 'afterId', 0, Number.MAX_SAFE_INTEGER), limit };
  }
  const page = params.has('page') ? integer(params, 'page', 1, Number.MAX_SAFE_INTEGER) : 1;
  const from = params.has('from') ? isoInstant(params, 'from') : undefined;
  const to = params.has('to') ? isoInstant(params, 'to') : undefined;
  if (from !== undefined && to !== undefined && from > to) throw invalid(`"from" (${params.get('from')}) is after "to" (${params.get('to')}).`);
  return { kind: 'page', from, to, limit, page };
}

/**
 * flexd's `raw=true`: the messages as the service wrote them. Without it each message's control
 * characters are visible escapes (logs/visible-text.ts), so a client that prints the answer to
 * a terminal — kinvey-cli's `flex logs` does — never passes a service's escape sequences on.
 */
export function wantsRawMessages(rawQuery: string): boolean {
  const value = rawParams(rawQuery).get('raw');
  if (value === undefined) return false;
  if (!/^(true|1|false|0)$/.test(value)) throw invalid(`"raw" must be true or false; got "${value}".`);
  return value === 'true' || value === '1';
}

function rawParams(rawQuery: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const raw = eq === -1 ? '' : pair.slice(eq + 1);
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      throw invalid(`"${key}" is not validly percent-encoded.`);
    }
    if (!params.has(key)) params.set(key, value);
  }
  return params;
}

function integer(params: Map<string, string>, key: string, min: number, max: number): number {
  const text = params.get(key)!;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw invalid(`"${key}" must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}; got "${text}".`);
  }
  return n;
}

/**
 * ISO-8601 date or date-time: `2024-05-01`, `2024-05-01T12:00`, `2024-05-01T12:00:00.123Z`,
 * `2024-05-01T14:00:00+02:00` (also the basic forms `20240501T120000+0200`). Without a zone the
 * time is UTC: flexd's clock in logs is UTC, whatever the server's time zone.
 */
const ISO = /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

function isoInstant(params: Map<string, string>, key: string): string {
  const text = params.get(key)!;
  const m = ISO.exec(text);
  const wrong = () => invalid(`"${key}" must be an ISO-8601 date and time such as 2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00; got "${text}".`);
  if (!m) throw wrong();
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((v) => (v === undefined ? undefined : Number(v))) as number[];
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const zone = m[8];
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const zh = Number(digits.slice(0, 2));
    const zm = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (zh > 23 || zm > 59) throw wrong();
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  const daysInMonth = utc(year, month, 0).getUTCDate();
  const endOfDay = hour === 24 && minute === 0 && second === 0 && millis === 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || (hour > 23 && !endOfDay) || minute > 59 || second > 59) throw wrong();
  const ms = utc(year, month - 1, day, hour, minute, second, millis).getTime() - offsetMinutes * 60_000;
  return new Date(ms).toISOString();
}

/** Date.UTC, without its mapping of years 0–99 to 1900–1999. */
function utc(year: number, monthIndex: number, day: number, hour = 0, minute = 0, second = 0, millis = 0): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, monthIndex, day);
  d.setUTCHours(hour, minute, second, millis);
  return d;
}

const invalid = (description: string) => new FlexdError('InvalidLogQuery', description, { status: 400 });
