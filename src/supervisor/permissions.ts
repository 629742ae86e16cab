import type { ReplicaSpec } from './replica.ts';

/**
 * Node's permission model as a second wall behind the account (docs/security.md). Workers are
 * allowed: they run inside the same process, under the same permissions. Child processes,
 * native addons and WASI are not: each would step outside the model.
 */
export function permissionFlags(permissions: ReplicaSpec['permissions']): string[] {
  if (!permissions) return [];
  return [
    '--experimental-permission',
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
