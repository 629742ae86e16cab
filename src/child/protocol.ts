import type { Alias } from './aliases.ts';

/**
 * The messages that cross a replica's IPC channel. Both sides check every message they
 * receive against these shapes; an unknown message is logged and ignored (STYLE.md §4).
 * This file is the contract between src/child (inside a replica) and src/supervisor.
 */

/** Parent → replica */
export type ToReplica =
  | { t: 'task'; id: number; task: Record<string, unknown>; aliases?: Alias[] }
  | { t: 'ping'; id: number }
  /** The messages of one event-loop turn, as one write (one wake-up of the other side). */
  | { t: 'batch'; messages: ToReplica[] };

/** Replica → parent */
export type FromReplica =
  | { t: 'ready' }
  | { t: 'result'; id: number; task: Record<string, unknown> }
  | { t: 'failed'; id: number; error: { name: string; message: string; stack: string } }
  | { t: 'pong'; id: number; rss: number }
  | { t: 'batch'; messages: FromReplica[] };

export function isFromReplica(m: unknown): m is FromReplica {
  if (typeof m !== 'object' || m === null) return false;
  const msg = m as Record<string, unknown>;
  switch (msg.t) {
    case 'ready': return true;
    case 'result': return typeof msg.id === 'number' && typeof msg.task === 'object' && msg.task !== null;
    case 'failed': return typeof msg.id === 'number' && typeof msg.error === 'object' && msg.error !== null;
    case 'pong': return typeof msg.id === 'number' && typeof msg.rss === 'number';
    case 'batch': return Array.isArray(msg.messages);
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
  if (msg.t === 'batch') return Array.isArray(msg.messages);
  return false;
}

/** Where the child runtime publishes its receiver for the `kinvey-code-task-runner` shim to pick up. */
export const RECEIVER_GLOBAL = 'flexd.receiver';
