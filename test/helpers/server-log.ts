/**
 * flexd's server log (src/events/server-log.ts) as a test reads it: a logger that writes every
 * line twice, as pino's JSON and as flexd's text format, and a wait for one event that checks it
 * in both shapes. The test that makes an event happen checks its line, on the run it does anyway:
 *
 *   const log = serverLogRecorder();
 *   const h = await startRuntime(cleanup, { logger: log.logger });
 *   …kill the replica…
 *   const line = await serverLogLine(log, 'replica exited; restarting', { reason: 'crash' });
 *
 * (test/ops/server-log.test.ts has the events of a runtime's own life: start, deploys, swaps, stop.)
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from '../../src/logger.ts';
import { waitFor } from './wait.ts';

export interface ServerLogRecorder {
  logger: Logger;
  /** every line as JSON, in order */
  json: Record<string, any>[];
  /** every line in the text format, in order */
  text: string[];
}

/** A logger that writes every line twice: as pino's JSON and as flexd's text format. */
export function serverLogRecorder(): ServerLogRecorder {
  const json: Record<string, any>[] = [];
  const text: string[] = [];
  const jsonOut = new PassThrough();
  const textOut = new PassThrough();
  jsonOut.setEncoding('utf8').on('data', (chunk: string) => json.push(...chunk.split('\n').filter(Boolean).map((l) => JSON.parse(l))));
  textOut.setEncoding('utf8').on('data', (chunk: string) => text.push(...chunk.split('\n').filter(Boolean)));
  const a = createLogger({ format: 'json', destination: jsonOut });
  const b = createLogger({ format: 'text', destination: textOut });
  const both = (level: keyof Logger): Logger[keyof Logger] => (fields, msg) => { a[level](fields, msg); b[level](fields, msg); };
  return { logger: { debug: both('debug'), info: both('info'), warn: both('warn'), error: both('error') }, json, text };
}

/**
 * Waits for the event `msgs` (one message, or any of several) with `fields` in both formats and
 * returns its JSON record. The text line must read `<time> <LEVEL> <msg> … key=value …`.
 */
export async function serverLogLine(r: ServerLogRecorder, msgs: string | string[], fields: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<Record<string, any>> {
  const accepted = typeof msgs === 'string' ? [msgs] : msgs;
  const matches = (j: Record<string, any>) => accepted.includes(j.msg) && Object.entries(fields).every(([k, v]) => j[k] === v);
  const record = await waitFor(`the server log line "${accepted.join('" or "')}" ${JSON.stringify(fields)}`, () => r.json.find(matches), { timeoutMs });
  const msg: string = record.msg;
  assert.equal(typeof record.time, 'string');
  assert.ok(!Number.isNaN(Date.parse(record.time)), record.time);
  assert.match(record.level, /^(info|warn|error)$/);
  const textLine = await waitFor(`the text line "${msg}"`, () => r.text.find((l) => l.includes(` ${msg}`)
    && Object.entries(fields).every(([k, v]) => k === 'level' || l.includes(` ${k}=${typeof v === 'string' && !/^[\w.:/@+-]+$/.test(v) ? JSON.stringify(v) : String(v)}`))));
  assert.match(textLine, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${record.level.toUpperCase()}\\s+${msg.replace(/[.*+?^${}()|[\]\\;:]/g, '\\$&')}`));
  return record;
}
