import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { RuntimeContext } from '../context.ts';
import { discardBody, discardWebBody } from '../edge/drain.ts';
import { FlexdError } from '../errors.ts';
import { requireUser, sessionRoutes } from './auth.ts';
import { environmentRoutes } from './environments.ts';
import { errorResponse } from './errors.ts';
import { metricsRoutes } from '../metrics/route.ts';
import { uiRoutes } from '../ui/routes.ts';
import { jobRoutes } from './jobs.ts';
import { logRoutes } from './logs.ts';
import { organizationRoutes } from './organizations.ts';
import { serviceRoutes } from './services.ts';
import { authorize } from './roles.ts';
import { statusRoutes } from './status.ts';
import { userRoutes } from './users.ts';
import { versionRoutes } from './versions.ts';
import { nodeRoutes } from './nodes.ts';
import { runtimeRoutes } from './runtimes.ts';
import type { ApiEnv } from './types.ts';

/** JSON bodies: names, secrets and variables; nothing legitimate comes near it (uploads have their own cap) */
const MAX_JSON_BODY_BYTES = 1024 * 1024;
/** With bodyTimeoutMs off: how long the rest of a refused body may take to arrive before the answer goes anyway */
const EARLY_ANSWER_DRAIN_MS = 60_000;

/**
 * The management API (SPEC §3): what the unmodified kinvey-cli 6.x and flexd's own CLI talk to.
 * Routes are thin; the work is in the store and the deployer. Every error becomes
 * `{code, description, debug}` in errors.ts. Everything but logging in and the identity
 * providers needs `Authorization: Kinvey <token>`, and the role of its route class (roles.ts).
 */
export function createManagementApi(ctx: RuntimeContext): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const auth = requireUser(ctx);
  app.onError((err, c) => errorResponse(err, c, ctx.log));
  app.notFound((c) => c.json({ code: 'NotFound', description: 'No such route.', debug: `${c.req.method} ${c.req.path}` }, 404));

  // An early refusal (a deploy refused from its params, a missing token) is answered only once
  // the rest of the body has arrived, up to the upload cap: a client that sends its whole body
  // before reading (fetch(), kinvey-cli) reads the answer instead of meeting EPIPE.
  app.use('*', async (c, next) => {
    await next();
    const incoming = (c.env as HttpBindings | undefined)?.incoming;
    if (c.res.status >= 400 && incoming && !incoming.complete) {
      const limit = ctx.settings.maxArchiveBytes + MAX_JSON_BODY_BYTES;
      const timeout = ctx.settings.bodyTimeoutMs || EARLY_ANSWER_DRAIN_MS;
      // Once hono has wrapped the request in a web stream, only that stream's reader moves it.
      const body = c.req.raw.body;
      if (body && !body.locked) await discardWebBody(body, limit, timeout);
      else await discardBody(incoming, limit, timeout);
    }
  });

  const jsonLimit = bodyLimit({
    maxSize: MAX_JSON_BODY_BYTES,
    onError: () => { throw new FlexdError('RequestTooLarge', `The request body is over ${MAX_JSON_BODY_BYTES} bytes.`, { status: 413 }); },
  });
  // The deploy upload streams under its own cap (maxArchiveBytes, jobs.ts); every other body is JSON.
  const isUpload = (c: Context) => c.req.method === 'POST' && c.req.path === '/v4/jobs' && /^multipart\/form-data/i.test(c.req.header('content-type') ?? '');
  app.use('*', (c, next) => (isUpload(c) ? next() : jsonLimit(c, next)));

  // Open: for load balancers and probes. Answers from memory, never waits on a replica.
  app.get('/healthz', (c) => c.json({ healthy: true, uptimeSeconds: Math.round(process.uptime()) }));

  // Open: kinvey-cli's `init` asks before it has a token; `[]` means "Kinvey login only".
  app.get('/v4/identity-providers', (c) => c.json([]));
  // Its own auth: a session or the scrape token.
  app.route('/', metricsRoutes(ctx));
  // The status page: its own cookie sessions (src/ui/session.ts).
  app.route('/', uiRoutes(ctx));
  app.route('/', sessionRoutes(ctx, auth));

  // Every /v4 route needs a session, and the role its class needs (roles.ts).
  app.use('/v4/*', auth, authorize);
  app.route('/', userRoutes(ctx));
  app.route('/', organizationRoutes(ctx));
  app.route('/', serviceRoutes(ctx));
  app.route('/', environmentRoutes(ctx));
  app.route('/', statusRoutes(ctx));
  app.route('/', logRoutes(ctx));
  app.route('/', jobRoutes(ctx));
  app.route('/', versionRoutes(ctx));
  app.route('/', nodeRoutes(ctx));
  app.route('/', runtimeRoutes(ctx));
  return app;
}
