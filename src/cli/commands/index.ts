import type { Command } from '../command.ts';

/**
 * Every command by name, in the order `flexd help` lists them: running flexd (serve, dev), who you
 * are and where (login, profiles), the kinvey-like operations on services, then the running flexd
 * itself (accounts, backup; a cluster's `nodes` fits here). A command's module is loaded when that
 * command runs: `flexd versions` loads versions.ts and what it imports, not the other commands
 * (loading all of them was about a quarter of a command's start-up, ~25 ms of CPU, paid on every
 * call). `flexd help` loads them all for their summaries.
 */
const LOADERS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.ts')).serve,
  dev: async () => (await import('./dev.ts')).dev,
  login: async () => (await import('./login.ts')).login,
  logout: async () => (await import('./logout.ts')).logout,
  whoami: async () => (await import('./whoami.ts')).whoami,
  profile: async () => (await import('./profile.ts')).profile,
  create: async () => (await import('./create.ts')).create,
  list: async () => (await import('./list.ts')).list,
  deploy: async () => (await import('./deploy.ts')).deploy,
  status: async () => (await import('./status.ts')).status,
  logs: async () => (await import('./logs.ts')).logs,
  update: async () => (await import('./update.ts')).update,
  show: async () => (await import('./show.ts')).show,
  settings: async () => (await import('./settings.ts')).settings,
  versions: async () => (await import('./versions.ts')).versions,
  runtimes: async () => (await import('./runtimes.ts')).runtimes,
  nodes: async () => (await import('./nodes.ts')).nodes,
  recycle: async () => (await import('./recycle.ts')).recycle,
  rollback: async () => (await import('./rollback.ts')).rollback,
  env: async () => (await import('./env.ts')).env,
  delete: async () => (await import('./delete.ts')).del,
  user: async () => (await import('./user.ts')).user,
  admin: async () => (await import('./admin.ts')).admin,
  backup: async () => (await import('./backup.ts')).backup,
};

export const COMMAND_NAMES: readonly string[] = Object.keys(LOADERS);

/** The command called `name`, its module loaded; undefined for no such command. */
export async function findCommand(name: string): Promise<Command | undefined> {
  if (!Object.hasOwn(LOADERS, name)) return undefined;
  const command = await LOADERS[name]!();
  if (command.name !== name) throw new Error(`commands/index.ts: "${name}" loads the command "${command.name}"`);
  return command;
}

/** Every command, loaded, in COMMAND_NAMES' order (for the command list). */
export async function allCommands(): Promise<Command[]> {
  return Promise.all(COMMAND_NAMES.map(async (name) => (await findCommand(name))!));
}
