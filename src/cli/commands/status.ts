import type { EnvironmentStatus } from '../client.ts';
import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { connect } from '../session.ts';
import { resolveTarget, type Target } from '../target.ts';

export const status: Command = {
  name: 'status',
  summary: "show a service environment's status and deployed version",
  usage: `Usage: flexd status --service S [--env E]

Shows the environment's status (NEW, UPDATING, ONLINE, ERROR), the version that serves, who
deployed it and when, how it came to serve (origin: deployed, or rolled back from another
version), the last deployment, and flexd's replicas and error reason.

${TARGET_HELP}`,
  options: { ...TARGET_OPTIONS },
  async run({ args, out }) {
    const api = await connect(args.globals);
    const target = await resolveTarget(api, args.values);
    const raw = await api.status(target.service.id, target.environment.id);
    out.result({ ...raw, serviceId: target.service.id, svcEnvId: target.environment.id }, () => out.object(statusRows(raw, target)));
  },
};

/** kinvey-cli's `flex status` rows, plus the environment's name and flexd's own fields. */
export function statusRows(s: EnvironmentStatus, { service, environment }: Target): Record<string, unknown> {
  const replicas = s.replicas;
  return {
    status: s.status,
    version: s.version,
    runtime: s.runtime,
    name: service.name,
    id: service.id,
    svcEnvName: environment.name,
    svcEnvId: environment.id,
    requestedAt: s.requestedAt,
    deployerEmail: s.deployUserInfo?.email,
    origin: originText(s.origin),
    deploymentStatus: s.deployment?.status,
    deploymentVersion: s.deployment?.version,
    deploymentRuntime: s.deployment?.runtime,
    node: nodeVersion(s.node),
    replicas: Array.isArray(replicas) ? replicaSummary(replicas) : replicas,
    // the first line; the rest (a failed start's output) is in --output json and in the deploy's progress
    reason: typeof s.reason === 'string' ? s.reason.split('\n')[0] : s.reason,
  };
}

/** flexd's `origin`: "rolled back from 1.1.0 by ops@example.com at 2026-…Z", "deployed by … at …". */
function originText(origin: unknown): string | undefined {
  if (!origin || typeof origin !== 'object') return undefined;
  const o = origin as { kind?: string; by?: string | null; at?: string; from?: string };
  const how = o.kind === 'rollback' ? `rolled back${o.from ? ` from ${o.from}` : ''}` : 'deployed';
  return `${how}${o.by ? ` by ${o.by}` : ''}${o.at ? ` at ${o.at}` : ''}`;
}

/** flexd's own: the Node the serving replicas run on (`v22.23.5`). */
function nodeVersion(node: unknown): string | undefined {
  const version = (node as { version?: unknown } | undefined)?.version;
  return typeof version === 'string' ? version : undefined;
}

/** `2 (1 ready, 1 starting)`: how many replicas, by state; `0` while idled. */
function replicaSummary(replicas: unknown[]): string {
  const states = new Map<string, number>();
  for (const r of replicas) {
    const state = typeof (r as { state?: unknown })?.state === 'string' ? (r as { state: string }).state : 'unknown';
    states.set(state, (states.get(state) ?? 0) + 1);
  }
  const detail = [...states].map(([state, n]) => `${n} ${state}`).join(', ');
  return replicas.length === 0 ? '0' : `${replicas.length} (${detail})`;
}
