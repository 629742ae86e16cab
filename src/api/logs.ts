import { Hono } from 'hono';
import type { RuntimeContext } from '../context.ts';
import { terminalSafeJson, visibleControls } from '../logs/visible-text.ts';
import type { LogRow } from '../store/logs.ts';
import { parseLogQuery, wantsRawMessages } from './log-query.ts';
import { environmentOr404 } from './lookup.ts';
import type { ApiEnv } from './types.ts';

/**
 * `GET /v4/services/:sid/environments/:eid/logs?from&to&limit&page` (kinvey-cli), oldest first,
 * `?afterId=N[&limit]` (flexd's `logs --follow`: the lines after the last one it printed) and
 * `?tail=N` (flexd's `logs`: the newest N lines, oldest of them first). Messages show their
 * control characters as visible escapes (`\x1b`) unless `?raw=true` (flexd's `logs --raw`).
 */
export function logRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get('/v4/services/:sid/environments/:eid/logs', async (c) => {
    const { env } = await environmentOr404(ctx, c.req.param('sid'), c.req.param('eid'));
    const url = c.req.url;
    const q = url.indexOf('?');
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    const query = parseLogQuery(rawQuery);
    const raw = wantsRawMessages(rawQuery);
    // Lines still waiting for the log thread would be missing from the answer.
    await ctx.logs.flush();
    const rows = query.kind === 'after' ? await ctx.store.logs.since(env.id, query.afterId, query.limit)
      : query.kind === 'tail' ? await ctx.store.logs.tail(env.id, query.limit)
        : await ctx.store.logs.query(env.id, query);
    // As JSON, with what JSON leaves raw and a terminal acts on (C1, DEL, bidi) escaped too: kinvey-cli prints it.
    return c.body(terminalSafeJson(JSON.stringify(raw ? rows : rows.map(visibleRow))), 200, { 'Content-Type': 'application/json' });
  });
  return app;
}

/** A log line as a terminal may print it: its message's control characters as visible escapes. */
export function visibleRow(row: LogRow): LogRow {
  return { ...row, message: visibleControls(row.message) };
}
