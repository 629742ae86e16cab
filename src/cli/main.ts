import { serve } from './serve.ts';

/** `flexd <command>`: serve, plus the kinvey-like operations (src/cli/commands). */
const [command, ...args] = process.argv.slice(2);

async function main(): Promise<void> {
  switch (command) {
    case 'serve':
      await serve(args);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log('Usage: flexd serve [options]   (flexd serve --help)');
      return;
    default:
      throw new Error(`unknown command "${command}" (try flexd help)`);
  }
}

main().catch((err: Error) => {
  console.error(`flexd: ${err.message}`);
  process.exit(1);
});
