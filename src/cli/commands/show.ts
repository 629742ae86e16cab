import { TARGET_HELP, TARGET_OPTIONS, type Command } from '../command.ts';
import { connect } from '../session.ts';
import { resolveTarget } from '../target.ts';

export const show: Command = {
  name: 'show',
  summary: "show a service environment's settings and variables",
  usage: `Usage: flexd show --service S [--env E]

Shows the environment's id, runtime, shared secret, environment variables and its own
settings (flexd settings changes them).

${TARGET_HELP}`,
  options: { ...TARGET_OPTIONS },
  async run({ args, out }) {
    const api = await connect(args.globals);
    const { service, environment } = await resolveTarget(api, args.values);
    const writers = (service.access as { writers?: { organizations?: string[] } } | undefined)?.writers;
    const view = {
      svcEnvName: environment.name,
      svcEnvId: environment.id,
      description: environment.description ?? undefined,
      runtime: environment.runtime ?? undefined,
      secret: environment.secret,
      serviceName: service.name,
      serviceId: service.id,
      org: writers?.organizations?.[0],
      environmentVariables: environment.environmentVariables ?? {},
      settings: (environment.settings ?? {}) as Record<string, unknown>,
    };
    out.result(view, () => {
      const { environmentVariables, settings, ...rest } = view;
      const flat: Record<string, unknown> = { ...rest };
      for (const [name, value] of Object.entries(environmentVariables)) flat[`environmentVariables.${name}`] = value;
      for (const [name, value] of Object.entries(settings)) flat[`settings.${name}`] = value;
      out.object(flat);
    });
  },
};
