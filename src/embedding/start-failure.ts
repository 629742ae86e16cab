/**
 * What a failed start says first: the error the service printed, and where (issue 20). Node
 * writes a load-time error as
 *
 *   Uncaught exception: index.js:8            ← a syntax error: the file and line come first
 *     flex.functions.register('whoami', …
 *                                         ^
 *   SyntaxError: missing ) after argument list
 *       at wrapSafe (node:internal/modules/cjs/loader:1464:18)
 *
 * or `Uncaught exception: Error: boom` followed by its stack; the replica's paths are already
 * relative to the project (supervisor/scrub.ts).
 */

/** An error's first line: `SyntaxError: …`, `Error: …`, `TypeError [ERR_X]: …` (after the child's prefix, if any). */
const ERROR_LINE = /^(?:Uncaught exception(?: in a handler)?: )?((?:[A-Z][A-Za-z]*)?Error(?: \[[A-Z0-9_]+\])?: .*|(?:[A-Z][A-Za-z]*)?Error)$/;
/** The `file:line` header Node prints above a syntax error's source line. */
const LOCATION_HEADER = /^(?:Uncaught exception(?: in a handler)?: )?([^\s:()][^\s()]*\.[cm]?[jt]s):(\d+)$/;
/** A stack frame naming a file: `at fn (lib/a.js:3:9)` or `at lib/a.js:3:9`. */
const FRAME = /^\s+at (?:.*\()?([^\s()]+):(\d+):\d+\)?$/;

/**
 * `SyntaxError: Unexpected token '}' (index.js:3)` from a start-up output tail: the first error
 * line, with the project file and line it names (the header above a syntax error, or the first
 * stack frame outside Node's internals and node_modules). Undefined when the tail shows no error.
 *
 * @example firstErrorLine('Uncaught exception: Error: boom\n    at Object.<anonymous> (index.js:6:7)') // 'Error: boom (index.js:6)'
 */
export function firstErrorLine(tail: string): string | undefined {
  const lines = tail.split('\n');
  const at = lines.findIndex((l) => ERROR_LINE.test(l.trim()));
  if (at < 0) return undefined;
  const error = ERROR_LINE.exec(lines[at]!.trim())![1]!;
  let where: string | undefined;
  for (let i = at - 1; i >= 0 && where === undefined; i--) {
    const header = LOCATION_HEADER.exec(lines[i]!.trim());
    if (header) where = `${header[1]}:${header[2]}`;
  }
  for (let i = at + 1; i < lines.length && where === undefined; i++) {
    const frame = FRAME.exec(lines[i]!);
    if (!frame) continue; // `Require stack:` and its list sit between a MODULE_NOT_FOUND and its frames
    const [, file, line] = frame;
    if (!file!.startsWith('node:') && !file!.includes('node_modules/') && !file!.startsWith('flexd-replica')) where = `${file}:${line}`;
  }
  return where === undefined ? error : `${error} (${where})`;
}
