import type { LogFormat } from '../logger.ts';
import { terminalSafeJson } from '../logs/visible-text.ts';

/**
 * The lines `flexd serve` itself prints besides the server log: the listening line and the one
 * generated admin password on stdout; stop signals, a shutdown failure and Node's own warnings
 * on stderr. As text they read as before (`flexd listening on URL`); under `--log-format json`
 * each is one JSON object with the server log's `level`, `time` and `msg`, so a log shipper that
 * parses every line of both streams never meets plain text (issue 16).
 */
export class ServeLines {
  constructor(
    readonly format: LogFormat = 'text',
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** stdout: `text` as it reads to a person; under json, `{level, time, msg: text, ...fields}`. */
  out(text: string, fields: Record<string, unknown> = {}): void {
    this.stdout.write(this.line('info', text, fields));
  }

  /** stderr: `flexd: text` as it reads to a person; under json, one object. */
  err(level: 'info' | 'warn' | 'error', text: string, fields: Record<string, unknown> = {}): void {
    this.stderr.write(this.line(level, text, fields, 'flexd: '));
  }

  /**
   * Under json, Node's process warnings (a deprecation from a dependency, say) become JSON lines
   * too: Node's default printer (a 'warning' listener) is replaced by one that writes through err().
   */
  captureWarnings(): void {
    if (this.format !== 'json') return;
    process.removeAllListeners('warning');
    process.on('warning', (w) => this.err('warn', w.message, { warning: w.name, ...('code' in w && w.code ? { code: w.code } : {}) }));
  }

  private line(level: string, text: string, fields: Record<string, unknown>, prefix = ''): string {
    if (this.format === 'json') return `${terminalSafeJson(JSON.stringify({ level, time: new Date().toISOString(), ...fields, msg: text }))}\n`;
    return `${prefix}${text}\n`;
  }
}

/** The log format a `flexd serve` command line asks for (flag, then FLEXD_LOG_FORMAT), read before its options are checked. */
export function requestedLogFormat(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): LogFormat {
  let value: string | undefined;
  argv.forEach((a, i) => {
    if (a === '--log-format') value = argv[i + 1];
    else if (a.startsWith('--log-format=')) value = a.slice('--log-format='.length);
  });
  return (value ?? env.FLEXD_LOG_FORMAT) === 'json' ? 'json' : 'text';
}
