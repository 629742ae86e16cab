/**
 * How the SDK's own HTTP receiver builds tasks differs between the `kinvey-code-task-runner`
 * versions the published kinvey-flex-sdk versions pin (1.2.0 → 1.2.1, 2.0.2 → 2.1.0,
 * 2.1.0 → 2.2.3, 3.1.2 and 3.2.0 → 2.3.1, 3.3.0 → 2.4.0). flexd builds each task the way the
 * serving version's own receiver would; the replica reports which one is installed
 * (src/child/task-runner.ts). The differences, from the packages' sources and changelogs:
 *
 * | since | what changed in `httpReceiver.js` |
 * |---|---|
 * | 2.0.0 | functions tasks carry `hookType` (default `customEndpoint`); their `entityId` comes from the body's `entityId`, before from its `id` |
 * | 2.1.0 | the JSON body limit is the SDK option `requestBodyLimit` (default 25 MiB), before a fixed 4096 bytes |
 * | 2.2.0 | functions tasks carry `request.tempObjectStore` (the body's, or `{}`) |
 * | 2.2.3 | `response.{status,headers,body}` fall back to the body's `response` object when the `X-Kinvey-Response-*` headers are absent |
 * | 2.3.0 | Express 4.16 instead of 4.13: an answer without a body (`res.json(undefined)`) says `application/json; charset=utf-8`, before `application/json` |
 *
 * Everything else (routes, context headers, the answer's projection, the query parser's results
 * for what the oracle tests probe) is the same in all of them.
 */
import semver from 'semver';
import type { ReceiverInfo } from '../child/protocol.ts';
import { remember } from '../remember.ts';

export interface ReceiverDialect {
  /** The task runner version it follows, e.g. `'2.1.0'`. */
  version: string;
  /** Functions tasks carry `hookType`. */
  hookType: boolean;
  /** The functions body field that becomes `request.entityId`. */
  functionsIdField: 'entityId' | 'id';
  /** Functions tasks carry `request.tempObjectStore`. */
  tempObjectStore: boolean;
  /** `response.*` falls back to the body's `response` when its header is absent. */
  responseFromBody: boolean;
  /** The largest JSON body the receiver reads, in bytes; null: no limit of its own. */
  bodyLimitBytes: number | null;
  /** The Content-Type of an answer without a body (Express 4.13 adds no charset there). */
  emptyBodyContentType: string;
}

/** kinvey-code-task-runner 2.4.0 (kinvey-flex-sdk 3.3.0): what flexd answers before a replica said otherwise. */
export const CURRENT_RECEIVER = '2.4.0';
const DEFAULT_BODY_LIMIT = 26_214_400;
const LEGACY_BODY_LIMIT = 4096;

/**
 * The dialect of the receiver a replica reported; the current one when it reported none (no
 * task runner installed, or a version that is not semver).
 *
 * @example
 * receiverDialect({ version: '2.1.0', requestBodyLimit: 26214400 }).tempObjectStore   // false
 * receiverDialect(undefined).version                                                  // '2.4.0'
 */
export function receiverDialect(info: ReceiverInfo | undefined): ReceiverDialect {
  // Asked on every request (src/dataplane/handler.ts): semver's parsing was 2.5 % of flexd's busy
  // time under load (npm run bench, profile). A host has a handful of receivers: remembered by
  // what decides the dialect, a bounded map against a replica reporting a new limit each start.
  // The report itself is kept by its pool, one object per replica start: looked up by identity
  // first, without building the key (a JSON.stringify per request).
  if (info === undefined) return CURRENT_DIALECT;
  let dialect = byReport.get(info);
  if (dialect === undefined) {
    const key = JSON.stringify([info.version, info.requestBodyLimit]);
    dialect = remember(dialects, key, 64, () => dialectOf(info));
    byReport.set(info, dialect);
  }
  return dialect;
}

/** The dialect of each report seen, while its pool holds it. */
const byReport = new WeakMap<ReceiverInfo, ReceiverDialect>();

const dialects = new Map<string, ReceiverDialect>();

function dialectOf(info: ReceiverInfo | undefined): ReceiverDialect {
  const version = info?.version !== undefined && semver.valid(info.version) ? info.version : CURRENT_RECEIVER;
  const since = (v: string) => semver.gte(version, v);
  return Object.freeze({
    version,
    hookType: since('2.0.0'),
    functionsIdField: since('2.0.0') ? 'entityId' : 'id',
    tempObjectStore: since('2.2.0'),
    responseFromBody: since('2.2.3'),
    bodyLimitBytes: since('2.1.0') ? (info ? info.requestBodyLimit : DEFAULT_BODY_LIMIT) : LEGACY_BODY_LIMIT,
    emptyBodyContentType: since('2.3.0') ? 'application/json; charset=utf-8' : 'application/json',
  });
}

/** The current receiver's dialect with its default body limit. */
export const CURRENT_DIALECT: ReceiverDialect = dialectOf(undefined);
