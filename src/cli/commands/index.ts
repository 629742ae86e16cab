import type { Command } from '../command.ts';
import { admin } from './admin.ts';
import { backup } from './backup.ts';
import { create } from './create.ts';
import { del } from './delete.ts';
import { dev } from './dev.ts';
import { env } from './env.ts';
import { deploy } from './deploy.ts';
import { list } from './list.ts';
import { login } from './login.ts';
import { logout } from './logout.ts';
import { logs } from './logs.ts';
import { recycle } from './recycle.ts';
import { rollback } from './rollback.ts';
import { settings } from './settings.ts';
import { show } from './show.ts';
import { status } from './status.ts';
import { profile } from './profile.ts';
import { serve } from './serve.ts';
import { update } from './update.ts';
import { user } from './user.ts';
import { runtimes } from './runtimes.ts';
import { nodes } from './nodes.ts';
import { versions } from './versions.ts';
import { whoami } from './whoami.ts';

/**
 * Every command, in the order `flexd help` lists them: running flexd (serve, dev), who you are
 * and where (login, profiles), the kinvey-like operations on services, then the running flexd
 * itself (accounts, backup; a cluster's `nodes` fits here).
 */
export const COMMANDS: readonly Command[] = [
  serve, dev,
  login, logout, whoami, profile,
  create, list, deploy, status, logs, update, show, settings, versions, runtimes, nodes, recycle, rollback, env, del,
  user, admin, backup,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
