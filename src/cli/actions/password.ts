import readline from 'node:readline/promises';
import { Writable } from 'node:stream';
import { ConfigError, parseUiUsers, tokenNamePattern, type UiRole, uiRoles } from '../../config.js';
import { hashPassword } from '../../http/ui/password.js';
import { printJson } from '../output.js';

/** The shortest password accepted for a UI account. */
const minPasswordLength = 8;

export async function makePassword(name: string, options: { role: string; json?: boolean }) {
  if (!tokenNamePattern.test(name))
    throw new ConfigError(`the user name must be 1 to 64 letters, digits, dots, dashes or underscores, not ${JSON.stringify(name)}`);
  if (!Object.hasOwn(uiRoles, options.role)) throw new ConfigError(`--role must be admin or viewer, not ${JSON.stringify(options.role)}`);
  const role = options.role as UiRole;
  const password = process.stdin.isTTY ? await askTwice(name) : await firstLine(process.stdin);
  if (password.length < minPasswordLength) throw new ConfigError(`the password must be at least ${minPasswordLength} characters`);
  const entry = `${name}:${role}:${await hashPassword(password)}`;
  // The entry is read back as the service will read it.
  parseUiUsers(entry);
  if (options.json) {
    printJson({ name, role, scopes: uiRoles[role], entry });
    return;
  }
  process.stdout.write(
    [
      `Web UI account "${name}" (${role}: ${uiRoles[role].join(', ')}). Add this entry to VECR_UI_USERS (several entries are separated by spaces):`,
      `  ${entry}`,
      '',
    ].join('\n'),
  );
}

/**
 * Asks on the terminal, without echo, twice; the two must match. The terminal is taken (raw mode,
 * no echo) before the first prompt is shown: what is typed as soon as it shows is never echoed.
 */
async function askTwice(name: string): Promise<string> {
  // readline echoes what is typed to its output: a stream that drops it.
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const terminal = readline.createInterface({ input: process.stdin, output: silent, terminal: true });
  // In raw mode Ctrl-C reaches readline, not the process: it stops here, as it would anywhere.
  terminal.on('SIGINT', () => {
    terminal.close();
    process.stderr.write('\n');
    process.exit(130);
  });
  const ask = async (prompt: string) => {
    process.stderr.write(prompt);
    const answer = await terminal.question('');
    process.stderr.write('\n');
    return answer;
  };
  try {
    const first = await ask(`Password for ${name}: `);
    const second = await ask('Again: ');
    if (first !== second) throw new ConfigError('the two passwords differ: nothing was made');
    return first;
  } finally {
    terminal.close();
  }
}

/** The first line of a stream (without its line end), or all of it when it has no line end. */
async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0]!;
}
