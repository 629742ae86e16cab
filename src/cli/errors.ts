/**
 * A failure the CLI reports as one line, `flexd: <message>`, with exit code 1. `code` is the
 * API's (or flexd's) stable error code when there is one; it is printed before the message,
 * as kinvey-cli prints `<code>: <description>`.
 */
export class CliError extends Error {
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}

/** The one line printed for any failure: `<code>: <message>` (or the message alone), first line only. */
export function failureLine(err: unknown): string {
  const { code, message } = failureParts(err);
  return code ? `${code}: ${message}` : message;
}

/**
 * A failure as `{code?, message}` (message: the first line): what `--output json` prints as
 * `{"error": {...}}`. A message that already begins with its code keeps it and has no code apart.
 */
export function failureParts(err: unknown): { code?: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const first = message.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? 'failed';
  // FlexdError (from shared code such as readProject) and CliError carry a code; Node's own errors carry codes like ENOENT
  const code = typeof e?.code === 'string' && /^[A-Z][a-z][A-Za-z]*$/.test(e.code) && !first.startsWith(`${e.code}:`) ? e.code : undefined;
  return code ? { code, message: first } : { message: first };
}
