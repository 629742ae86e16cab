import { environmentStatus, versionOrigin } from '../api/status.ts';
import type { RuntimeContext } from '../context.ts';
import { residentBytes } from '../metrics/registry.ts';
import type { TrafficSnapshot } from '../metrics/registry.ts';
import type { FlexdEvent } from '../events/bus.ts';
import { environmentNames } from '../events/names.ts';
import type { EnvironmentRow, JobRow, ServiceRow } from '../store/index.ts';

export interface ReplicaView { containerId: string; version: string; state: string; inFlight: number; memoryBytes: number }

export interface EnvironmentView {
  service: ServiceRow;
  env: EnvironmentRow;
  /** NEW, UPDATING, ONLINE or ERROR, as `kinvey flex status` says */
  status: string;
  reason?: string;
  version?: string;
  /** the Node its replicas run on (`v22.23.5`; src/runtimes) */
  node?: string;
  replicas: ReplicaView[];
  traffic: TrafficSnapshot;
  lastDeploy?: JobRow;
  /** how the active version came to serve: the last deploy or rollback that completed */
  origin?: VersionOrigin;
}

/** The active version's origin: `deploy` or `rollback` (from `from`), by whom (an e-mail; null: embedded or unknown), when. */
export interface VersionOrigin { kind: 'deploy' | 'rollback'; by: string | null; at: string; from?: string; jobId: string }

/** What the status page shows of one environment, from the same sources as the status API and the metrics. */
export async function environmentView(ctx: RuntimeContext, service: ServiceRow, env: EnvironmentRow): Promise<EnvironmentView> {
  const status = await environmentStatus(ctx, env) as { status: string; version?: string; reason?: string; node?: { version: string }; replicas?: { containerId: string; version: string; state: string; inFlight: number; pid?: number }[] };
  const replicas = await Promise.all((status.replicas ?? []).map(async (r) => ({
    containerId: r.containerId, version: r.version, state: r.state, inFlight: r.inFlight, memoryBytes: await residentBytes(r.pid),
  })));
  return {
    service, env, status: status.status, reason: status.reason, version: status.version, node: status.node?.version, replicas,
    traffic: ctx.metrics.traffic(env.id), lastDeploy: await ctx.store.jobs.latest(env.id, 'deployService'),
    origin: env.activeVersionId ? versionOrigin(await ctx.store.jobs.lastActivation(env.id)) ?? undefined : undefined,
  };
}

export async function overview(ctx: RuntimeContext): Promise<EnvironmentView[]> {
  const { services } = ctx.store;
  const out: EnvironmentView[] = [];
  for (const service of (await services.listServices()).sort((a, b) => a.name.localeCompare(b.name))) {
    for (const env of (await services.listEnvironments(service.id)).sort((a, b) => a.name.localeCompare(b.name))) {
      out.push(await environmentView(ctx, service, env));
    }
  }
  return out;
}

export interface EventView { at: string; environmentId: string; service: string; environment: string; text: string; bad: boolean }

/**
 * Events on the overview: the last few worth a look (deploys' outcomes, rollbacks, recycles,
 * changed variables and settings, restarts, idling, suspensions), newest first.
 */
const EVENTS_SHOWN = 15;

export function recentEvents(ctx: RuntimeContext): EventView[] {
  const out: EventView[] = [];
  for (const { at, event } of ctx.events.recent()) {
    const said = describeEvent(event);
    if (!said) continue;
    out.push({ at, environmentId: event.environmentId, ...environmentNames(ctx.directory, event.environmentId), ...said });
    if (out.length === EVENTS_SHOWN) break;
  }
  return out;
}

function describeEvent(e: FlexdEvent): { text: string; bad: boolean } | undefined {
  switch (e.type) {
    case 'deploy-finished': return { text: `deployed ${e.version} in ${(e.durationMs / 1000).toFixed(1)} s${by(e.by)}`, bad: false };
    case 'deploy-failed': return { text: `deploy${e.version ? ` of ${e.version}` : ''} failed: ${e.reason}`, bad: true };
    case 'rollback': return { text: `rolled back ${e.from === undefined ? '' : `from ${e.from} `}to ${e.to}${by(e.by)}`, bad: false };
    case 'rollback-failed': return { text: `rollback to ${e.to} failed: ${e.reason}${by(e.by)}`, bad: true };
    case 'recycled': return { text: e.why === 'Recycle' ? `recycled: fresh replicas of ${e.version}${by(e.by)}` : `replicas of ${e.version} restarted to apply the change`, bad: false };
    case 'environment-changed': return { text: `changed${by(e.by)}: ${e.changes.join('; ')}`, bad: false };
    case 'replica-exit': return { text: `replica ${e.containerId} ended (${e.reason}: ${e.detail})${e.restartInMs === undefined ? '' : '; restarted'}`, bad: true };
    case 'replica-start-failed': return { text: `a replica failed to start: ${e.detail}`, bad: true };
    case 'idle': return { text: `idle for ${Math.round(e.idleMs / 1000)} s: ${e.replicas} replica(s) stopped`, bad: false };
    case 'suspended': return { text: `suspended: ${e.reason}`, bad: true };
    default: return undefined; // starts and swaps: every deploy has one, and restores at start are many
  }
}

const by = (email: string | null | undefined) => (email ? ` by ${email}` : '');
