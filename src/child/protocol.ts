import type { Alias } from './aliases.ts';

/**
 * The messages that cross a replica's channel (one JSON frame each, frames.ts). Both sides
 * check every message they receive against these shapes. The replica logs and ignores an
 * unknown message from flexd; flexd treats an unknown message from a replica as a broken
 * protocol and replaces the replica (its code may be anything the service wrote).
 * This file is the contract between src/child (inside a replica) and src/supervisor.
 */

/**
 * Parent → replica. `start` runs the project (once; later ones are ignored): every replica boots
 * Node and flexd's child runtime, then waits for it, so a spare booted ahead of need
 * (supervisor/pool.ts) and a replica started on demand are the same process.
 */
export type ToReplica =
  | { t: 'start' }
  | { t: 'task'; id: number; task: Record<string, unknown>; aliases?: Alias[] }
  | { t: 'ping'; id: number };

/**
 * The receiver the service's SDK would have used under `node .`, which flexd's answers imitate
 * (src/dataplane/receiver-dialect.ts): the installed `kinvey-code-task-runner`'s version (absent
 * when none is installed) and the body limit the SDK's options give it (`requestBodyLimit`, as
 * body-parser reads it: bytes, or null for none).
 */
export interface ReceiverInfo {
  version?: string;
  requestBodyLimit: number | null;
}

/** Replica → parent */
export type FromReplica =
  | { t: 'ready'; receiver?: ReceiverInfo }
  /** `task`: the part of the completed task the answer reads (answer-part.ts), unchecked until answer.ts reads it. */
  | { t: 'result'; id: number; task: Record<string, unknown> }
  | { t: 'failed'; id: number; error: { name: string; message: string; stack: string } }
  | { t: 'pong'; id: number; rss: number };

export function isFromReplica(m: unknown): m is FromReplica {
  if (typeof m !== 'object' || m === null) return false;
  const msg = m as Record<string, unknown>;
  switch (msg.t) {
    case 'ready': return msg.receiver === undefined || isReceiverInfo(msg.receiver);
    case 'result': return typeof msg.id === 'number' && isObject(msg.task);
    case 'failed': {
      const e = msg.error as Record<string, unknown> | null;
      return typeof msg.id === 'number' && isObject(e)
        && typeof e.name === 'string' && typeof e.message === 'string' && typeof e.stack === 'string';
    }
    case 'pong': return typeof msg.id === 'number' && typeof msg.rss === 'number';
    default: return false;
  }
}

export function isToReplica(m: unknown): m is ToReplica {
  if (typeof m !== 'object' || m === null) return false;
  const msg = m as Record<string, unknown>;
  if (msg.t === 'task') {
    return typeof msg.id === 'number' && typeof msg.task === 'object' && msg.task !== null
      && (msg.aliases === undefined || Array.isArray(msg.aliases));
  }
  if (msg.t === 'ping') return typeof msg.id === 'number';
  return msg.t === 'start';
}

function isReceiverInfo(v: unknown): v is ReceiverInfo {
  if (!isObject(v)) return false;
  const limit = v.requestBodyLimit;
  return (v.version === undefined || (typeof v.version === 'string' && v.version.length <= 64))
    && (limit === null || (typeof limit === 'number' && Number.isFinite(limit)));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where the child runtime publishes its receiver for the `kinvey-code-task-runner` shim to pick up. */
export const RECEIVER_GLOBAL = 'flexd.receiver';
