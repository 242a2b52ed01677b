import type { Command } from 'commander';
import { lazy } from '../lazy.js';

export function registerPassword(program: Command) {
  program
    .command('password')
    .argument('<name>', "the account's user name (letters, digits, . _ -)")
    .option('--role <role>', 'admin (everything) or viewer (read only)', 'admin')
    .option('--json', 'print JSON: {name, role, scopes, entry}')
    .description('make a web UI account: reads its password and prints the VECR_UI_USERS entry that holds only its hash (scrypt)')
    .addHelpText(
      'after',
      `
On a terminal the password is asked twice, without echo. Otherwise the first line of standard input is
the password (for scripts: printf '%s\\n' "$PASSWORD" | vecr password rin --role viewer).
Several entries in VECR_UI_USERS are separated by spaces or newlines; quote them in a shell (they hold $).`,
    )
    .action(lazy(async () => (await import('../actions/password.js')).makePassword));
}
