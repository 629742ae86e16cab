import { Writable } from 'node:stream';
import type { Logger as PinoLogger } from 'pino';
import { loadLater } from './load-later.ts';

/** pino is loaded by the first logger made, not by every importer of these types (an embedder's runtime is silent). */
const loadPino = loadLater<typeof import('pino')>('pino');

/**
 * flexd's own log: one line per event an operator cares about (start, deploys, swaps, replica
 * exits, suspensions, shutdown). Never a service's output (that goes to the log ring), never a
 * secret.
 *
 * The shape is pino's: `log.info({ service, environment, version }, 'deploy finished')`. An
 * embedder may pass any object with these four methods (pino, or a test's recorder). The types
 * are public (public.ts).
 */
import { terminalSafeJson, visibleControls } from './logs/visible-text.ts';
import type { LogFormat, Logger } from './public.ts';

export type { LogFormat, Logger };

export interface LoggerOptions {
  /** `text`: human-readable (default); `json`: one JSON object per line with level, time, msg and the fields */
  format?: LogFormat;
  /** where lines go; default process.stderr */
  destination?: NodeJS.WritableStream;
  /** default `info` */
  level?: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * A logger writing to stderr (or `destination`) in the chosen format.
 *
 * @example
 * const log = createLogger({ format: 'json' });
 * log.info({ dataDir: '/var/lib/flexd' }, 'flexd started');
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const stream = options.format === 'json' ? jsonStream(destination) : textStream(destination);
  const { pino } = loadPino();
  const logger: PinoLogger = pino({
    level: options.level ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, stream);
  return logger;
}

/**
 * pino's JSON lines, with what a terminal may act on and JSON leaves raw (DEL, C1, bidirectional
 * controls) written as `\uXXXX` escapes: the same JSON, safe to tail. pino writes whole lines.
 */
function jsonStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.write(terminalSafeJson(chunk.toString('utf8')));
      done();
    },
  });
}

/** A logger that drops everything: the default of an embedded runtime. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * `2026-11-29T23:40:01.123Z INFO  deploy finished service=orders environment=Development version=1.0.1`
 * Values with spaces or quotes are JSON-quoted; control characters never reach the terminal raw.
 */
function textStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          out.write(`${line}\n`);
          continue;
        }
        const { level, time, msg, ...fields } = record;
        const rest = Object.entries(fields).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
        out.write(`${String(time)} ${String(level).toUpperCase().padEnd(5)} ${safe(String(msg))}${rest ? ` ${rest}` : ''}\n`);
      }
      done();
    },
  });
}

function formatValue(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  // JSON escapes C0; DEL, C1 and bidirectional controls it leaves raw.
  return /^[\w.:/@+-]*$/.test(s) && s !== '' ? s : visibleControls(JSON.stringify(s));
}

function safe(s: string): string {
  return visibleControls(s);
}
