import type { RuntimeContext } from '../context.ts';

/** Placeholder until the control plane lands: creates the first admin account (SPEC §2). */
export async function bootstrapAdmin(_ctx: RuntimeContext, _o: { email?: string; password?: string }): Promise<void> {}
