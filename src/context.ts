import type { Settings } from './config.ts';
import type { Deployer } from './deploy/pipeline.ts';
import type { LogWriter } from './logs/writer.ts';
import type { Store } from './store/index.ts';
import type { Supervisor } from './supervisor/index.ts';

/** What the planes (management API, data plane, CLI-less embedding) share: one per runtime. */
export interface RuntimeContext {
  readonly settings: Readonly<Settings>;
  readonly dataDir: string;
  readonly store: Store;
  readonly logs: LogWriter;
  readonly supervisor: Supervisor;
  readonly deployer: Deployer;
  /** Node executables for runtime names beyond flex-runtime-node6…12 (`serve --runtime name=path`) */
  readonly runtimes?: Readonly<Record<string, string>>;
}
