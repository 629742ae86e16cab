/**
 * The threshold of one line a replica wrote. The SDK's logger (`flex.logger.info(…)`) writes
 * one JSON line `{"message", "level"}` to stdout, with level `warning` for warn; every other
 * line has no threshold (SPEC §5, Logs).
 */
const LEVELS: Record<string, string> = { info: 'info', warning: 'warn', warn: 'warn', error: 'error', fatal: 'fatal' };

export interface ParsedLine { threshold: string | null; message: string }

export function parseLogLine(line: string): ParsedLine {
  if (line.length > 1 && line.charCodeAt(0) === 123 /* { */ && line.includes('"level"')) {
    try {
      const parsed = JSON.parse(line) as { message?: unknown; level?: unknown };
      const threshold = typeof parsed.level === 'string' ? LEVELS[parsed.level] : undefined;
      if (threshold && 'message' in parsed) {
        const message = typeof parsed.message === 'string' ? parsed.message : JSON.stringify(parsed.message);
        return { threshold, message };
      }
    } catch {
      // not the SDK logger's JSON: keep the line as it is
    }
  }
  return { threshold: null, message: line };
}
