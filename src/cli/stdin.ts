import { CliError } from './errors.ts';

/** Reads all of stdin as text (for `--password-stdin`); refuses a terminal, where nothing would end the input. */
export async function readStdin(flag: string): Promise<string> {
  if (process.stdin.isTTY) throw new CliError(`${flag} reads from a pipe or file, not a terminal (echo … | flexd …)`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The lines of `--password-stdin` input: a trailing newline (from echo) is not part of a password. */
export async function stdinLines(flag: string, count: number): Promise<string[]> {
  const lines = (await readStdin(flag)).split(/\r?\n/);
  const wanted = lines.slice(0, count);
  if (wanted.length < count || wanted.some((l) => l === '')) {
    throw new CliError(`${flag}: expected ${count === 1 ? 'the password' : `${count} lines`} on stdin`);
  }
  return wanted;
}
