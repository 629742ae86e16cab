/**
 * Text flexd passes on from a service — a build's output in a job's progress, a failed start's
 * last lines in an environment's `reason`, the status page — reaches terminals (kinvey-cli
 * prints a job's progress as it is) and browsers. A service's control characters must not steer
 * them: an escape sequence can rewrite a terminal's screen, its title or its clipboard, a
 * carriage return can hide a line behind another, a bidirectional override can make text read
 * other than it is. So they are shown as visible escapes: ESC as `\x1b`, CR as `\r`, U+202E as
 * `\u202e`. Line ends (LF) and tabs stay as they are; everything else is unchanged.
 *
 * @example visibleControls('\x1b]0;pwned\x07done\r\n')   // '\\x1b]0;pwned\\x07done\\r\n'
 */
export function visibleControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * C0 controls but tab and line feed, DEL, C1 controls (U+0080–U+009F: 8-bit CSI and OSC), the
 * bidirectional embeddings, overrides and isolates, and the line and paragraph separators.
 */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

/**
 * JSON text with the characters JSON.stringify leaves raw but a terminal may act on — DEL, C1
 * (U+009B is a one-character CSI on some terminals), bidirectional controls, line and paragraph
 * separators — written as `\uXXXX` escapes. The same JSON (it parses to the same value): only
 * its spelling changes, and these characters occur only inside its strings. C0 controls are
 * escaped by JSON.stringify already.
 *
 * @example terminalSafeJson(JSON.stringify({ m: 'a\u009b2J' }))   // '{"m":"a\\u009b2J"}'
 */
export function terminalSafeJson(json: string): string {
  return json.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const RAW_IN_JSON = /[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
