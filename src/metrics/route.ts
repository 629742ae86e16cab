import { Hono } from 'hono';
import { sessionTokenHash } from '../accounts/tokens.ts';
import type { RuntimeContext } from '../context.ts';
import { secretsEqual } from '../secrets.ts';
import type { ApiEnv } from '../api/types.ts';

/**
 * `GET /metrics`: Prometheus' text format, for `Authorization: Bearer <token>` (or `Kinvey
 * <token>`) where the token is any account's session or the scrape token (`--metrics-token`,
 * compared in constant time). 401 otherwise: the labels name every service.
 */
export function metricsRoutes(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get('/metrics', async (c) => {
    const token = /^(?:Bearer|Kinvey)\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const scrapeToken = ctx.metrics.scrapeToken;
    const allowed = token !== undefined
      && ((scrapeToken !== undefined && secretsEqual(token, scrapeToken)) || await ctx.store.accounts.sessionUser(sessionTokenHash(token), Date.now()) !== undefined);
    if (!allowed) {
      c.header('WWW-Authenticate', 'Bearer realm="flexd metrics"');
      return c.json({ code: 'InvalidCredentials', description: 'Send a session token or the metrics token as "Authorization: Bearer <token>".', debug: '' }, 401);
    }
    c.header('Content-Type', ctx.metrics.registry.contentType);
    return c.body(await ctx.metrics.text());
  });
  return app;
}
