import { randomBytes, randomUUID } from 'node:crypto';

/** 32 hex chars, a UUID v4 without dashes: kinvey-cli only looks an id up directly when it is one. */
export function newId(): string {
  return randomUUID().replaceAll('-', '');
}

/** A replica's id: 12 hex chars, like a container id. */
export function newContainerId(): string {
  return randomBytes(6).toString('hex');
}

export function nowIso(): string {
  return new Date().toISOString();
}
