/**
 * What parsing a piece of JSON may cost flexd, checked before `JSON.parse` runs (issue 15: a
 * replica's 54 MB frame of tiny objects took flexd's main thread for 11–21 s and 1.7 GB). The
 * cost of JSON.parse is in its values, not its bytes: a 25 MiB string is one value and cheap,
 * 25 MiB of `{},` is eight million objects. So a frame is bounded by size (frames.ts) and by
 * structure, counted here without parsing, at about a nanosecond a byte (strings are skipped with
 * indexOf):
 *
 *   - at most MAX_JSON_VALUES values (elements and members, counted at the commas and brackets)
 *   - at most MAX_JSON_CONTAINERS objects and arrays
 *   - at most MAX_JSON_DEPTH levels of nesting
 *
 * Measured on this 2-core machine: JSON.parse of 500 000 empty objects takes about 190 ms and
 * 34 MB, of 2 000 000 numbers about 140 ms. A body of a hundred thousand ten-field records fits.
 */

export const MAX_JSON_VALUES = 2_000_000;
export const MAX_JSON_CONTAINERS = 500_000;
/** Deeper than any real document; JSON.stringify of a much deeper value overflows the stack. */
export const MAX_JSON_DEPTH = 1_000;
/** Shorter JSON cannot break the bounds (its depth is at most half its length): not scanned. */
export const SCAN_FROM_BYTES = 2 * MAX_JSON_DEPTH;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Thrown when a piece of JSON would cost more than the bounds allow; `what` says which bound. */
export class JsonBoundsError extends Error {
  /** `depth`: nested too deeply (malformed for flexd, 400); `count`: too many values (too large, 413) */
  constructor(readonly what: string, readonly kind: 'depth' | 'count' = 'count') {
    super(what);
    this.name = 'JsonBoundsError';
  }
}

/**
 * Counts the structure of JSON fed in pieces (a frame arriving in chunks). Not a validator:
 * JSON.parse still decides what is JSON; this only says what parsing it would cost.
 *
 * @example
 *   const scan = new JsonScanner();
 *   scan.feed(Buffer.from('[{},'), 0, 4); scan.feed(Buffer.from('{}]'), 0, 3);   // throws JsonBoundsError past a bound
 */
export class JsonScanner {
  values = 0;
  containers = 0;
  depth = 0;
  private inString = false;
  /** the previous byte of the string was an unpaired backslash (across pieces) */
  private escaped = false;

  /** Scans bytes [start, end) of `bytes`. @throws JsonBoundsError */
  feed(bytes: Uint8Array & { indexOf(value: number, from: number): number }, start: number, end: number): void {
    let i = start;
    /** where the next backslash is (searched again only once passed: a search per string would be quadratic) */
    let slash = -2;
    while (i < end) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          i++;
          continue;
        }
        // Jump to the next quote or backslash in the string.
        const quote = bytes.indexOf(QUOTE, i);
        if (slash !== -1 && slash < i) slash = bytes.indexOf(BACKSLASH, i);
        const next = quote === -1 ? slash : slash === -1 ? quote : Math.min(quote, slash);
        if (next === -1 || next >= end) return; // the string goes on in the next piece
        if (bytes[next] === BACKSLASH) {
          this.escaped = true;
        } else {
          this.inString = false;
        }
        i = next + 1;
        continue;
      }
      const b = bytes[i++];
      if (b === QUOTE) this.inString = true;
      else if (b === COMMA) this.count();
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        this.count();
        if (++this.containers > MAX_JSON_CONTAINERS) throw new JsonBoundsError(`more than ${MAX_JSON_CONTAINERS} objects and arrays`);
        if (++this.depth > MAX_JSON_DEPTH) throw new JsonBoundsError(`nesting deeper than ${MAX_JSON_DEPTH} levels`, 'depth');
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) this.depth--;
    }
  }

  private count(): void {
    if (++this.values > MAX_JSON_VALUES) throw new JsonBoundsError(`more than ${MAX_JSON_VALUES} values`);
  }
}

/**
 * Which bound JSON text would break if parsed, or undefined when it may be parsed. For text
 * flexd parses on its main thread: a request body, a service's string body (dataplane/).
 */
export function jsonOverBounds(text: string): JsonBoundsError | undefined {
  if (text.length < SCAN_FROM_BYTES) return undefined;
  try {
    const bytes = Buffer.from(text, 'utf8');
    new JsonScanner().feed(bytes, 0, bytes.length);
    return undefined;
  } catch (err) {
    if (err instanceof JsonBoundsError) return err;
    throw err;
  }
}
