import { html as hono, raw } from 'hono/html';
import semver from 'semver';
import { visibleControls } from '../logs/visible-text.ts';
import type { LogRow } from '../store/logs.ts';
import type { VersionRow } from '../store/index.ts';
import type { NodeView } from '../cluster/index.ts';
import type { EnvironmentView, EventView } from './data.ts';
import { PAGE_SCRIPT, STYLE } from './assets.ts';

/**
 * Escaped HTML (hono/html escapes every interpolated string; nested fragments pass as they are).
 * Every interpolated string also shows its control characters as visible escapes: much of what
 * the page shows (log lines, reasons, events) is a service's own text (logs/visible-text.ts).
 */
type Html = ReturnType<typeof raw>;
const html = (strings: TemplateStringsArray, ...values: unknown[]): Html =>
  (hono as (strings: TemplateStringsArray, ...values: unknown[]) => Html)(strings, ...values.map((v) => (typeof v === 'string' ? visibleControls(v) : v)));

export interface PageOptions { nonce: string; title: string; signedIn?: { email: string; role: string; csrf: string }; started?: string }

/** The frame of every page: inline style and script (no external assets: the page works offline), a nonce for the script. */
export function layout(o: PageOptions, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · flexd</title><link rel="icon" href="data:,">
<style>${raw(STYLE)}</style>
${o.signedIn ? html`<meta name="csrf-token" content="${o.signedIn.csrf}">` : ''}
</head><body>
<header><a class="brand" href="/">flexd</a>${o.signedIn ? html`<span class="who">${o.signedIn.email} · ${o.signedIn.role}</span>
<form method="post" action="/ui/logout" class="inline"><input type="hidden" name="csrf" value="${o.signedIn.csrf}"><button class="link">Sign out</button></form>` : ''}</header>
<main>${body}</main>
<script nonce="${o.nonce}">${raw(PAGE_SCRIPT)}</script>
</body></html>`;
}

export function signInPage(nonce: string, o: { error?: string; email?: string; noAccounts?: boolean } = {}): Html {
  return layout({ nonce, title: 'Sign in' }, html`<form method="post" action="/ui/login" class="card signin">
<h1>Sign in</h1>
${o.error ? html`<p class="error" role="alert">${o.error}</p>` : ''}
${o.noAccounts ? html`<p class="muted">This flexd has no account yet: start it with <code>FLEXD_ADMIN_EMAIL</code> and <code>FLEXD_ADMIN_PASSWORD</code>, or, with flexd stopped, <code>flexd admin reset-password --data-dir DIR --email EMAIL</code> on its host.</p>` : ''}
<label>E-mail <input name="email" type="email" autocomplete="username" required value="${o.email ?? ''}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`);
}

export function overviewPage(o: PageOptions, rows: EnvironmentView[], events: EventView[], nodes: NodeView[] = []): Html {
  return layout(o, html`<h1>Services</h1>
<div data-refresh="/ui/fragments/overview">${overviewBody(rows, events, nodes)}</div>
<p class="muted">Requests, errors (5xx) and restarts since flexd started${o.started ? html` (${when(o.started)})` : ''}.</p>`);
}

/** The overview's summary line and table; the page's script fetches it again every few seconds. */
export function overviewBody(rows: EnvironmentView[], events: EventView[] = [], nodes: NodeView[] = []): Html {
  const count = (status: string) => rows.filter((r) => r.status === status).length;
  const parts = [['ONLINE', 'online'], ['UPDATING', 'updating'], ['ERROR', 'in error'], ['NEW', 'never deployed']]
    .filter(([status]) => count(status!) > 0).map(([status, word]) => html`<span class="s-${status!.toLowerCase()}">${count(status!)} ${word}</span>`);
  return html`<p class="summary">${rows.length} environment${rows.length === 1 ? '' : 's'}${parts.length ? ': ' : ''}${parts.map((p, i) => html`${i > 0 ? ', ' : ''}${p}`)}</p>
<table class="overview"><thead><tr><th>Service</th><th>Environment</th><th>Status</th><th>Version</th><th>Node</th><th>Replicas</th><th>Memory</th><th>Req/s</th><th>Errors</th><th>Restarts</th><th>Serving since</th></tr></thead>
<tbody>${overviewRows(rows)}</tbody></table>
${nodes.length === 0 ? '' : html`<h2>Nodes</h2>
<table class="nodes"><thead><tr><th>Node</th><th>Live</th><th>Last seen</th><th>Started</th><th>flexd</th><th>Environments</th><th>Replicas</th></tr></thead>
<tbody>${nodes.map((n) => html`<tr class="${n.live ? '' : 'bad'}"><td data-label="Node">${n.name}</td><td data-label="Live">${n.live ? 'live' : 'gone'}</td><td data-label="Last seen">${when(n.lastSeen)}</td><td data-label="Started">${when(n.startedAt)}</td><td data-label="flexd">${n.flexdVersion}</td><td data-label="Environments">${n.environments}</td><td data-label="Replicas">${n.replicas}</td></tr>`)}</tbody></table>`}
<h2>Recent events</h2>
${events.length === 0 ? html`<p class="empty">No deploys, rollbacks, changes, restarts or suspensions since flexd started.</p>` : html`<ol class="events">${events.map((e) => html`<li class="${e.bad ? 'bad' : ''}"><time>${when(e.at)}</time> <a href="/ui/environments/${e.environmentId}">${e.service} / ${e.environment}</a>: ${e.text}</li>`)}</ol>`}`;
}

function overviewRows(rows: EnvironmentView[]): Html {
  if (rows.length === 0) return html`<tr><td colspan="11" class="empty">Nothing deployed yet: <code>flexd deploy</code> or <code>kinvey flex deploy</code>.</td></tr>`;
  return html`${rows.map((r) => html`<tr>
<td data-label="Service">${r.service.name}</td>
<td data-label="Environment"><a href="/ui/environments/${r.env.id}">${r.env.name}</a></td>
<td data-label="Status">${badge(r.status)}${r.reason ? html` <span class="reason" title="${r.reason}">${firstLine(r.reason)}</span>` : ''}</td>
<td data-label="Version" class="version">${r.version ?? '—'}</td>
<td data-label="Node" class="node">${r.node ?? '—'}</td>
<td data-label="Replicas">${replicaSummary(r)}</td>
<td data-label="Memory">${mb(r.replicas.reduce((a, x) => a + x.memoryBytes, 0))}</td>
<td data-label="Req/s">${r.traffic.requestsPerSecond}</td>
<td data-label="Errors">${r.traffic.errors > 0 ? html`<span class="bad">${r.traffic.errors}</span>` : '0'} <span class="muted">of ${r.traffic.requests}</span></td>
<td data-label="Restarts">${r.traffic.restarts > 0 ? html`<span class="bad">${r.traffic.restarts}</span>` : '0'}</td>
<td data-label="Serving since">${servingSince(r)}</td>
</tr>`)}`;
}

export function environmentPage(o: PageOptions, view: EnvironmentView, versions: VersionRow[], logs: LogRow[], operate: boolean): Html {
  const last = logs.at(-1)?._id ?? '0';
  return layout(o, html`<p><a href="/">← all services</a></p>
<h1>${view.service.name} / ${view.env.name}</h1>
<div data-refresh="/ui/fragments/environments/${view.env.id}">${environmentDetails(view, versions, operate)}</div>
<p class="message" role="status" aria-live="polite"></p>
<h2>Log <span class="muted">(newest last, live)</span></h2>
<ol class="log" data-log="/ui/environments/${view.env.id}/logs" data-after="${last}">${logs.map(logLine)}</ol>`);
}

/** Status, replicas and versions of one environment, with the buttons the user may press. */
export function environmentDetails(view: EnvironmentView, versions: VersionRow[], operate: boolean): Html {
  return html`<section class="card">
<p>${badge(view.status)} <span class="version">${view.version ?? 'no version'}</span>${view.node ? html` <span class="muted node">on Node ${view.node}</span>` : ''}
${view.reason ? html`<span class="reason">${view.reason}</span>` : ''}</p>
<p class="origin">${view.version ? html`Version ${view.version}: ${origin(view)}` : 'Nothing serves yet'}${laterDeploy(view) ? html` · last deploy: ${lastDeploy(view)}` : ''}</p>
<p>${view.traffic.requestsPerSecond} req/s · ${view.traffic.requests} requests, ${view.traffic.errors} errors, ${view.traffic.restarts} restarts since flexd started</p>
${operate && view.version ? html`<button data-action="recycle" data-confirm="Restart every replica of ${view.env.name}?">Recycle</button>` : ''}
${view.lastDeploy?.status === 'ERROR' ? html`<details><summary class="bad">Why the last deploy failed</summary><pre>${view.lastDeploy.progress}</pre></details>` : ''}
</section>
<h2>Replicas</h2>
<table><thead><tr><th>Container</th><th>Version</th><th>State</th><th>In flight</th><th>Memory</th></tr></thead><tbody>
${view.replicas.length === 0 ? html`<tr><td colspan="5" class="empty">none running${view.status === 'ONLINE' ? ' (idle: the next request starts one)' : ''}</td></tr>` : ''}
${view.replicas.map((r) => html`<tr><td data-label="Container"><code>${r.containerId}</code></td><td data-label="Version">${r.version}</td><td data-label="State">${r.state}</td><td data-label="In flight">${r.inFlight}</td><td data-label="Memory">${mb(r.memoryBytes)}</td></tr>`)}
</tbody></table>
<h2>Versions</h2>
<table><thead><tr><th>Version</th><th>Deployed</th><th>SDK</th><th></th></tr></thead><tbody>
${versions.map((v) => html`<tr><td data-label="Version" class="version">${v.version}</td><td data-label="Deployed">${when(v.createdAt)}</td><td data-label="SDK">${v.sdkVersion ?? '—'}</td>
<td>${v.id === view.env.activeVersionId ? html`<span class="muted">active</span>`
    : operate ? rollbackButton(view, v) : html`<span class="muted">${age(view, v)}</span>`}</td></tr>`)}
</tbody></table>`;
}

export function logLine(l: LogRow): Html {
  return html`<li class="t-${l.threshold ?? 'none'}"><time>${l.timestamp.slice(11, 23)}</time> <code>${l.containerId}</code> ${l.message}</li>`;
}

function badge(status: string): Html {
  return html`<span class="badge s-${status.toLowerCase()}">${status}</span>`;
}

function replicaSummary(r: EnvironmentView): string {
  const ready = r.replicas.filter((x) => x.state === 'ready').length;
  return r.replicas.length === ready ? String(ready) : `${ready} ready of ${r.replicas.length}`;
}

/**
 * The offer to serve a stored version again, saying whether it is older or newer than the one
 * serving (by semver; a version deployed again with the same number is neither): "Roll back to
 * 1.0.0 (older)", "Roll forward to 1.2.0 (newer)".
 */
function rollbackButton(view: EnvironmentView, v: VersionRow): Html {
  const relation = age(view, v);
  const verb = relation === 'newer' ? 'Roll forward to' : relation === 'older' ? 'Roll back to' : 'Serve';
  const confirm = `Serve the ${relation ? `${relation} ` : ''}version ${v.version} of ${view.env.name} instead of ${view.version ?? 'nothing'}?`;
  return html`<button data-action="rollback" data-version="${v.version}" data-confirm="${confirm}">${verb} ${v.version}${relation ? ` (${relation})` : ''}</button>`;
}

function age(view: EnvironmentView, v: VersionRow): 'older' | 'newer' | '' {
  const active = view.version && semver.valid(view.version);
  if (!active || !semver.valid(v.version)) return '';
  return semver.lt(v.version, active) ? 'older' : semver.gt(v.version, active) ? 'newer' : '';
}

/** How the active version came to serve: "deployed by ops@… 2026-12-07 05:00:00 UTC", "rolled back from 1.0.2 by …". */
function origin(view: EnvironmentView): Html | string {
  const o = view.origin;
  if (!o) return 'restored at start';
  const how = o.kind === 'rollback' ? `rolled back${o.from ? ` from ${o.from}` : ''}` : 'deployed';
  return html`<span class="origin-${o.kind}">${how}</span> <span class="muted">${o.by ? `by ${o.by} ` : ''}${when(o.at)}</span>`;
}

/** The overview's cell: how the active version came to serve, and a later deploy still running or failed. */
function servingSince(r: EnvironmentView): Html | string {
  if (!r.version) return laterDeploy(r) ? lastDeploy(r) : '—';
  return html`${origin(r)}${laterDeploy(r) ? html`<br>last deploy: ${lastDeploy(r)}` : ''}`;
}

/** A deploy after the one that put the active version in place (running, or failed): worth showing beside the origin. */
function laterDeploy(r: EnvironmentView): boolean {
  const j = r.lastDeploy;
  return j !== undefined && j.id !== r.origin?.jobId && j.status !== 'COMPLETED';
}

function lastDeploy(r: EnvironmentView): Html | string {
  const j = r.lastDeploy;
  if (!j) return '—';
  // A deployDirectory job announces no version; once it completed, the version it deployed is the active one.
  const announced = typeof j.params.version === 'string' ? j.params.version : j.status === 'COMPLETED' ? r.version : undefined;
  return html`<span class="${j.status === 'ERROR' ? 'bad' : ''}">${announced ?? ''} ${j.status.toLowerCase()}</span> <span class="muted">${when(j.updatedAt)}${j.userEmail ? ` by ${j.userEmail}` : ''}</span>`;
}

function when(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

function mb(bytes: number): string {
  return bytes === 0 ? '—' : `${Math.round(bytes / 1048576)} MB`;
}

function firstLine(s: string): string {
  const line = s.split('\n')[0]!;
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}
