import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { ApiEnv } from '../api/types.ts';
import type { RuntimeContext } from '../context.ts';
import { environmentView, overview, recentEvents } from './data.ts';
import { clientAddress } from '../api/auth.ts';
import { visibleRow } from '../api/logs.ts';
import { canOperate, csrfOk, pageUser, sessionCookie, signIn, signOut, type PageUser } from './session.ts';
import { environmentDetails, environmentPage, overviewBody, overviewPage, signInPage } from './views.ts';

/** Log lines an environment page starts with, and the most one poll brings. */
const RECENT_LOG_LINES = 200;

type UiContext = Context<ApiEnv & { Variables: { nonce: string } }>;

/**
 * The status page: `/` (sign in, then every service and environment), `/ui/environments/:id`
 * (versions, replicas, live log, recycle and rollback for admins and deployers), and the
 * fragments and log lines their script polls. Server-rendered, escaped by hono/html.
 */
export function uiRoutes(ctx: RuntimeContext): Hono<ApiEnv & { Variables: { nonce: string } }> {
  const app = new Hono<ApiEnv & { Variables: { nonce: string } }>();
  app.use('/', headers);
  app.use('/ui/*', headers);

  app.get('/', async (c) => {
    const user = await pageUser(ctx, c);
    if (!user) return c.html(signInPage(c.get('nonce'), { noAccounts: await ctx.store.accounts.countUsers() === 0 }));
    return c.html(overviewPage(options(ctx, c, user, 'Services'), await overview(ctx), recentEvents(ctx), await nodesShown(ctx)));
  });

  app.post('/ui/login', async (c) => {
    const form = await c.req.parseBody();
    const email = typeof form.email === 'string' ? form.email : '';
    const password = typeof form.password === 'string' ? form.password : '';
    // 200, not 401: the answer is a page for a person, and a browser reports every 401 document as a console error.
    let token: string | undefined;
    try {
      token = email && password ? await signIn(ctx, email, password, clientAddress(c, ctx.settings.trustProxy)) : undefined;
    } catch (err) {
      const e = err as { code?: unknown; retryAfterSeconds?: number };
      if (e.code !== 'TooManyLoginAttempts') throw err;
      return c.html(signInPage(c.get('nonce'), { error: `Too many failed sign-ins. Try again in ${e.retryAfterSeconds ?? 60} s.`, email }));
    }
    if (!token) return c.html(signInPage(c.get('nonce'), { error: 'Wrong e-mail or password.', email }));
    c.header('Set-Cookie', sessionCookie(c, token, ctx.settings.sessionTtlMs));
    return c.redirect('/', 303);
  });

  app.post('/ui/logout', async (c) => {
    const user = await pageUser(ctx, c);
    const form = await c.req.parseBody();
    if (user && csrfOk(c, user, typeof form.csrf === 'string' ? form.csrf : undefined)) await signOut(ctx, user.token);
    c.header('Set-Cookie', sessionCookie(c, '', 0));
    return c.redirect('/', 303);
  });

  app.get('/ui/fragments/overview', async (c) => {
    if (!await pageUser(ctx, c)) return unauthorized(c);
    return c.html(overviewBody(await overview(ctx), recentEvents(ctx), await nodesShown(ctx)));
  });

  app.get('/ui/environments/:eid', async (c) => {
    const user = await pageUser(ctx, c);
    if (!user) return c.redirect('/', 303);
    const found = await lookup(ctx, c.req.param('eid'));
    if (!found) return c.notFound();
    const view = await environmentView(ctx, found.service, found.env);
    const logs = await ctx.store.logs.tail(found.env.id, RECENT_LOG_LINES);
    return c.html(environmentPage(options(ctx, c, user, `${found.service.name} / ${found.env.name}`), view, await ctx.store.versions.list(found.env.id), logs, canOperate(user.role)));
  });

  app.get('/ui/fragments/environments/:eid', async (c) => {
    const user = await pageUser(ctx, c);
    if (!user) return unauthorized(c);
    const found = await lookup(ctx, c.req.param('eid'));
    if (!found) return c.notFound();
    return c.html(environmentDetails(await environmentView(ctx, found.service, found.env), await ctx.store.versions.list(found.env.id), canOperate(user.role)));
  });

  app.get('/ui/environments/:eid/logs', async (c) => {
    if (!await pageUser(ctx, c)) return unauthorized(c);
    const found = await lookup(ctx, c.req.param('eid'));
    if (!found) return c.notFound();
    const after = Number(c.req.query('after') ?? 0);
    if (!Number.isSafeInteger(after) || after < 0) return c.json({ code: 'InvalidLogQuery', description: 'after must be a line id', debug: '' }, 400);
    return c.json((await ctx.store.logs.since(found.env.id, after, RECENT_LOG_LINES)).map(visibleRow));
  });

  app.post('/ui/environments/:eid/:action{recycle|rollback}', async (c) => {
    const user = await pageUser(ctx, c);
    if (!user) return unauthorized(c);
    if (!csrfOk(c, user)) return c.json({ code: 'Forbidden', description: 'The request did not come from flexd\'s own page (CSRF token or origin).', debug: '' }, 403);
    if (!canOperate(user.role)) return c.json({ code: 'InsufficientPermissions', description: `Recycling and rolling back need the deployer role; your account is a ${user.role}.`, debug: '' }, 403);
    const found = await lookup(ctx, c.req.param('eid'));
    if (!found) return c.notFound();
    if (!found.env.activeVersionId) return c.json({ code: 'NotDeployed', description: 'Nothing is deployed here yet.', debug: '' }, 409);
    if (c.req.param('action') === 'recycle') {
      return c.json({ job: (await ctx.deployer.recycle(found.service.id, found.env.id, user.user.email)).id }, 201);
    }
    const body = await c.req.json().catch(() => ({})) as { version?: unknown };
    if (typeof body.version !== 'string' || !await ctx.store.versions.find(found.env.id, body.version)) {
      return c.json({ code: 'VersionNotFound', description: 'That version is not stored for this environment.', debug: '' }, 404);
    }
    return c.json({ job: (await ctx.deployer.rollback(found.service.id, found.env.id, body.version, user.user.email)).id }, 201);
  });

  return app;
}

/** Every page and fragment: a script nonce, no framing, no caching, no sniffing, no referrer. */
async function headers(c: UiContext, next: () => Promise<void>): Promise<void> {
  const nonce = randomBytes(16).toString('base64');
  c.set('nonce', nonce);
  await next();
  c.header('Content-Security-Policy', `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`);
  c.header('X-Frame-Options', 'DENY');
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('Cache-Control', 'no-store');
}

function options(ctx: RuntimeContext, c: UiContext, user: PageUser, title: string) {
  return { nonce: c.get('nonce'), title, signedIn: { email: user.user.email, role: user.role, csrf: user.csrf }, started: ctx.metrics.startedAt };
}

function unauthorized(c: Context) {
  return c.json({ code: 'InvalidCredentials', description: 'Sign in again.', debug: '' }, 401);
}

/** The nodes table of the overview: shown when several nodes share a PostgreSQL (docs/scale-out.md). */
async function nodesShown(ctx: RuntimeContext) {
  return ctx.store.backend === 'postgres' ? ctx.cluster.nodes().catch(() => []) : [];
}

async function lookup(ctx: RuntimeContext, environmentId: string) {
  const env = await ctx.store.services.getEnvironment(environmentId);
  const service = env && await ctx.store.services.getService(env.serviceId);
  return env && service ? { env, service } : undefined;
}
