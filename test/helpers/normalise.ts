/**
 * Makes two answers to the same request comparable when they legitimately differ only in values
 * that are generated per run. Only these are touched, and only when the value has the expected
 * form, keeping its key (anything else passes through unchanged, so a real difference still
 * shows):
 *
 * | where | value | becomes |
 * |---|---|---|
 * | key `_id` | 24 lower-case hex (a generated BSON ObjectID) | `<objectid#N>`, N by first appearance |
 * | keys `ect`, `lmt` inside `_kmd` | ISO-8601 UTC with milliseconds | `<timestamp>` |
 * | keys `stack`, `debug` | a JavaScript stack trace (message line + `at …` frames) | `<stack>` |
 *
 * Generated ids are numbered, not blanked, so that "GET by id returns the entity the insert
 * created" is still checked: one normaliser instance is used for a whole run, and the same id
 * gets the same number wherever it appears. Keys are visited in sorted order so that the
 * numbering does not depend on key order (which deepEqual ignores).
 *
 *   const normalise = createNormaliser();
 *   const answers = raw.map(normalise);
 */

export const OBJECT_ID = /^[0-9a-f]{24}$/;
export const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A message line followed only by V8 stack frames ("    at fn (file:line:col)"). */
export const STACK_TRACE = /^[^\n]*(?:\n +at [^\n]+)+\n?$/;

export type Normaliser = (value: unknown) => unknown;

export function createNormaliser(): Normaliser {
  const idNumbers = new Map<string, number>();

  function replaceString(value: string, key: string | undefined, parentKey: string | undefined): string {
    if (key === '_id' && OBJECT_ID.test(value)) {
      let n = idNumbers.get(value);
      if (n === undefined) {
        n = idNumbers.size + 1;
        idNumbers.set(value, n);
      }
      return `<objectid#${n}>`;
    }
    if (parentKey === '_kmd' && (key === 'ect' || key === 'lmt') && ISO_TIMESTAMP.test(value)) return '<timestamp>';
    if ((key === 'stack' || key === 'debug') && STACK_TRACE.test(value)) return '<stack>';
    return value;
  }

  function walk(value: unknown, key: string | undefined, parentKey: string | undefined): unknown {
    if (typeof value === 'string') return replaceString(value, key, parentKey);
    if (Array.isArray(value)) return value.map((item) => walk(item, undefined, key));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(value).sort()) out[k] = walk((value as Record<string, unknown>)[k], k, key);
      return out;
    }
    return value;
  }

  return (value) => walk(value, undefined, undefined);
}
