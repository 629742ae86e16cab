import type { OutputMode } from './args.ts';
import { terminalSafeJson } from '../logs/visible-text.ts';

/**
 * What a command prints. For people: tables with aligned columns, a list preceded by
 * `Count: N`, an object as `key  value` rows (kinvey-cli's habits). For scripts
 * (`--output json`): `{"result": <the raw result>}` on stdout and nothing else, as
 * kinvey-cli prints it, so `jq .result` works for both.
 */
export class Output {
  constructor(readonly mode: OutputMode, private readonly stdout: NodeJS.WritableStream = process.stdout) {}

  get json(): boolean {
    return this.mode === 'json';
  }

  /** A line for people: progress, confirmations. Silent under `--output json`. */
  say(text: string): void {
    if (!this.json) this.stdout.write(`${text}\n`);
  }

  /** The command's result: raw JSON for scripts, or what `human` prints. */
  result(raw: unknown, human: () => void): void {
    if (this.json) this.stdout.write(`${terminalSafeJson(JSON.stringify({ result: raw ?? null }, null, 2))}\n`);
    else human();
  }

  /** One JSON value per line (`logs --follow --output json`). */
  jsonLine(value: unknown): void {
    this.stdout.write(`${terminalSafeJson(JSON.stringify(value))}\n`);
  }

  list(rows: Record<string, unknown>[], columns: string[]): void {
    this.say(`Count: ${rows.length}`);
    if (rows.length > 0) this.say(formatTable(rows, columns));
  }

  object(record: Record<string, unknown>): void {
    this.say(formatKeyValue(record));
  }
}

/** A cell as text: null and undefined are empty, objects are JSON, newlines flattened so a row stays one line. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.replace(/\r?\n/g, ' ');
}

/**
 * Rows as aligned columns, a header of the column names, two spaces between columns, the last
 * column not padded (so long messages do not push trailing blanks):
 *
 *   id                                name
 *   0f3c9e2a9b8d4c6e8f1a2b3c4d5e6f70  orders
 */
export function formatTable(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = [columns, ...rows.map((row) => columns.map((c) => cell(row[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => [...r[i]].length)));
  return cells.map((r) => r.map((text, i) => (i === r.length - 1 ? text : text.padEnd(widths[i] + (text.length - [...text].length)))).join('  ').trimEnd())
    .join('\n');
}

/** An object as `key  value` rows; keys whose value is undefined are left out. */
export function formatKeyValue(record: Record<string, unknown>): string {
  const rows = Object.entries(record).filter(([, v]) => v !== undefined).map(([key, value]) => ({ key, value }));
  return formatTable(rows, ['key', 'value']);
}
