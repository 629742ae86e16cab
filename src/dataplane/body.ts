/**
 * Request body parsing with the semantics of the SDK receiver's `bodyParser.json()`
 * (body-parser 1.18.3, type-is 1.6.18 / media-typer 0.3.0, content-type 1.0.x):
 * only `application/json` bodies are parsed, in strict mode; anything else is `{}`.
 */
import { jsonOverBounds } from '../child/json-bounds.ts';

export type ParsedBody =
  | { ok: true; value: unknown }
  /** 400 for malformed JSON, 415 for an unsupported charset (body-parser's statuses), 413 past the structure bounds. */
  | { ok: false; status: 400 | 413 | 415; debug: string };

// media-typer 0.3.0, which type-is uses to decide whether body-parser parses at all.
const MEDIA_TYPE = /^ *([A-Za-z0-9][A-Za-z0-9!#$&^_-]{0,126})\/([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}) *$/;
const MEDIA_PARAM = /; *([!#$%&'*+\-.0-9A-Z^_`a-z|~]+) *= *("(?:[ !\u0023-\u005b\u005d-\u007e\u0080-\u00ff]|\\[\u0020-\u007e])*"|[!#$%&'*+\-.0-9A-Z^_`a-z|~]+) */g;
const TYPE_NAME = /^[A-Za-z0-9][A-Za-z0-9!#$&^_-]{0,126}$/;
const SUBTYPE_NAME = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.-]{0,126}$/;

// content-type 1.0.x, which body-parser uses to read the charset.
const CT_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const CT_PARAM = /; *([!#$%&'*+.^_`|~0-9A-Za-z-]+) *= *("(?:[\u000b\u0020\u0021\u0023-\u005b\u005d-\u007e\u0080-\u00ff]|\\[\u000b\u0020-\u00ff])*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+) */g;
// eslint-disable-next-line no-control-regex
const CT_QUOTED_ESCAPE = /\\([\u000b\u0020-\u00ff])/g;

/** JSON's insignificant whitespace, as body-parser's strict check skips it. */
const LEADING_JSON_SPACE = /^[\x20\x09\x0a\x0d]*/;

/**
 * Parses `;`-parameters from `start` (the first `;`) to the end of `header`;
 * null when they do not cover the rest of the header exactly.
 */
function parseParams(header: string, start: number, pattern: RegExp): Record<string, string> | null {
  const params: Record<string, string> = {};
  let index = start;
  pattern.lastIndex = start;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(header)) !== null) {
    if (match.index !== index) return null;
    index += match[0].length;
    params[match[1].toLowerCase()] = match[2];
  }
  return index === header.length ? params : null;
}

/**
 * True when body-parser would parse a body with this `Content-Type`: its media type
 * normalises to exactly `application/json`. Parameters must be well-formed, so
 * `application/json;` is *not* JSON, while `application/json+` is (an empty suffix).
 *
 * @example isJsonContentType('Application/JSON; charset=utf-8') // true
 */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  const match = MEDIA_TYPE.exec((semi === -1 ? contentType : contentType.slice(0, semi)).toLowerCase());
  if (!match) return false;
  if (semi !== -1 && parseParams(contentType, semi, MEDIA_PARAM) === null) return false;
  const [, type, fullSubtype] = match;
  const plus = fullSubtype.lastIndexOf('+');
  const subtype = plus === -1 ? fullSubtype : fullSubtype.slice(0, plus);
  const suffix = plus === -1 ? '' : fullSubtype.slice(plus + 1);
  if (!SUBTYPE_NAME.test(subtype) || (suffix !== '' && !TYPE_NAME.test(suffix))) return false;
  return type === 'application' && subtype === 'json' && suffix === '';
}

/** The lower-cased `charset` parameter, or undefined when absent, empty or the header is malformed. */
function charsetOf(contentType: string): string | undefined {
  const semi = contentType.indexOf(';');
  if (!CT_TYPE.test((semi === -1 ? contentType : contentType.slice(0, semi)).trim())) return undefined;
  if (semi === -1) return undefined;
  const params = parseParams(contentType, semi, CT_PARAM);
  let charset = params?.charset;
  if (charset === undefined) return undefined;
  if (charset.startsWith('"')) charset = charset.slice(1, -1).replace(CT_QUOTED_ESCAPE, '$1');
  return charset.toLowerCase() || undefined;
}

/**
 * iconv-lite's `utf-16` (no endianness) honours a BOM, else guesses from where the
 * zero bytes of ASCII characters sit, else little-endian.
 */
function utf16Endianness(raw: Buffer): 'utf-16le' | 'utf-16be' {
  if (raw.length >= 2 && raw[0] === 0xfe && raw[1] === 0xff) return 'utf-16be';
  if (raw.length >= 2 && raw[0] === 0xff && raw[1] === 0xfe) return 'utf-16le';
  let asciiLE = 0;
  let asciiBE = 0;
  for (let i = 0; i + 1 < Math.min(raw.length, 100); i += 2) {
    if (raw[i] === 0 && raw[i + 1] !== 0) asciiBE++;
    if (raw[i] !== 0 && raw[i + 1] === 0) asciiLE++;
  }
  return asciiBE > asciiLE ? 'utf-16be' : 'utf-16le';
}

/** Decodes like raw-body + iconv-lite (BOM stripped, bad bytes → U+FFFD); undefined if unsupported. */
function decode(raw: Buffer, charset: string): string | undefined {
  switch (charset) {
    case 'utf-8':
      return new TextDecoder('utf-8').decode(raw);
    case 'utf-16le':
    case 'utf-16be':
      return new TextDecoder(charset).decode(raw);
    case 'utf-16':
      return new TextDecoder(utf16Endianness(raw)).decode(raw);
    default:
      // iconv-lite also knows utf-7 and utf-7-imap; nobody sends JSON in them.
      return undefined;
  }
}

/**
 * body-parser `json()` semantics for one request body:
 * - a non-JSON `Content-Type` (see `isJsonContentType`) or an empty body gives `{}`;
 * - a charset not starting with `utf-` (or one flexd cannot decode) gives 415;
 * - strict mode: the first non-whitespace character must be `{` or `[`, else 400;
 * - malformed JSON gives 400;
 * - JSON past the structure bounds (json-bounds.ts) gives 413 (too many values, objects and
 *   arrays) or 400 (nested too deeply).
 *
 * Parsing is `JSON.parse`, which makes a `"__proto__"` key an own property of the
 * result instead of a prototype, so a body cannot pollute `Object.prototype`.
 *
 * The caller inflates `Content-Encoding: gzip|deflate` first and enforces the size limit.
 *
 * @example parseJsonBody('application/json', Buffer.from('{"a":1}')) // {ok: true, value: {a: 1}}
 */
export function parseJsonBody(contentType: string | undefined, raw: Buffer): ParsedBody {
  // body-parser skips requests without a body before it looks at the charset.
  if (!isJsonContentType(contentType) || raw.length === 0) return { ok: true, value: {} };

  const charset = charsetOf(contentType as string) ?? 'utf-8';
  const text = charset.startsWith('utf-') ? decode(raw, charset) : undefined;
  if (text === undefined) return { ok: false, status: 415, debug: `unsupported charset "${charset.toUpperCase()}"` };
  if (text.length === 0) return { ok: true, value: {} };

  const where = LEADING_JSON_SPACE.exec(text)![0].length;
  const first = text.charAt(where);
  if (first !== '{' && first !== '[') {
    return {
      ok: false,
      status: 400,
      debug: `Unexpected token ${JSON.stringify(first)} in JSON at position ${where}: `
        + 'a JSON body must be an object or an array',
    };
  }
  // What parsing may cost flexd's main thread is bounded by structure as well as size (json-bounds.ts).
  const over = jsonOverBounds(text);
  if (over !== undefined) return { ok: false, status: over.kind === 'depth' ? 400 : 413, debug: `the JSON body holds ${over.what}, more than flexd parses in one request` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, status: 400, debug: (err as Error).message };
  }
}
