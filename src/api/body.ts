import type { Context } from 'hono';
import type { z } from 'zod';
import { FlexdError } from '../errors.ts';

/**
 * Reads the request's JSON body and checks it against `schema`: the boundary where the API's
 * input is validated once. Malformed JSON → 400 `BadRequest`; a body that does not fit →
 * 400 `ValidationError` naming each field. (The size cap is app.ts's bodyLimit.)
 *
 * @example const { name, secret } = await readJson(c, z.object({ name: z.string(), secret: z.string() }));
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let value: unknown;
  try {
    value = text.trim() === '' ? undefined : JSON.parse(text);
  } catch (err) {
    throw new FlexdError('BadRequest', 'The request body is not valid JSON.', { status: 400, debug: (err as Error).message });
  }
  return parseWith(schema, value, 'The request body');
}

/** Checks `value` against `schema`; the error names every offending field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`);
  throw new FlexdError('ValidationError', `${what} is invalid: ${problems.join('; ')}.`, { status: 400 });
}
