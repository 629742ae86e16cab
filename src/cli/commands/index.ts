import type { Command } from '../command.ts';
import { backup } from './backup.ts';
import { create } from './create.ts';
import { del } from './delete.ts';
import { deploy } from './deploy.ts';
import { list } from './list.ts';
import { login } from './login.ts';
import { logout } from './logout.ts';
import { logs } from './logs.ts';
import { recycle } from './recycle.ts';
import { rollback } from './rollback.ts';
import { show } from './show.ts';
import { status } from './status.ts';
import { update } from './update.ts';

/** The kinvey-like commands, in the order `flexd help` lists them. */
export const COMMANDS: readonly Command[] = [login, logout, create, list, deploy, status, logs, update, show, recycle, rollback, del, backup];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
