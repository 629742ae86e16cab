import type { ReplicaSpec } from './replica.ts';

/** The first major where the permission model is stable and spelled `--permission` (Node 23.5; 22 and 20 take only the experimental flag). */
const STABLE_PERMISSION_MAJOR = 23;

/**
 * Node's permission model as a second wall behind the account (docs/security.md), as the
 * replica's major spells it: `--experimental-permission` on 20 and 22, `--permission` from 23
 * (24 refuses the old spelling). Workers are allowed: they run inside the same process, under
 * the same permissions. Child processes, native addons and WASI are not: each would step outside the model.
 */
export function permissionFlags(permissions: ReplicaSpec['permissions'], major: number): string[] {
  if (!permissions) return [];
  return [
    major >= STABLE_PERMISSION_MAJOR ? '--permission' : '--experimental-permission',
    // One flag per path: Node 20.20 takes a comma-separated list as one path (measured).
    ...permissions.read.map((p) => `--allow-fs-read=${p}`),
    ...permissions.write.map((p) => `--allow-fs-write=${p}`),
    '--allow-worker',
    // An addon npm built for the project (node-expat…) runs as under `node .`; only artifacts holding one get this.
    ...(permissions.addons ? ['--allow-addons'] : []),
    // The permission model prints an experimental warning on every start; it is expected here.
    '--no-warnings=ExperimentalWarning',
  ];
}
