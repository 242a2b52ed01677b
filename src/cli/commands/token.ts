import type { Command } from 'commander';
import { scopes } from '../../config.js';
import { lazy } from '../lazy.js';

export function registerToken(program: Command) {
  program
    .command('token')
    .argument('<name>', "the token's name: logged instead of the token, and named when it lacks a scope")
    .requiredOption(
      '--scopes <list>',
      `what it may do, comma-separated: ${scopes.join(', ')} (read: members, chat logs, sync status; chat: writing chat; admin: deleting sessions, syncing)`,
    )
    .option('--json', 'print JSON: {name, scopes, token, entry}')
    .description('make an API token: prints it once, with the VECR_API_TOKENS entry that holds only its hash')
    .addHelpText(
      'after',
      `
The token is printed here and nowhere else: give it to whoever calls the API (Authorization: Bearer <token>).
The configuration keeps only its SHA-256. Several entries in VECR_API_TOKENS are separated by spaces.
Example: vecr token discord-bot --scopes read,chat`,
    )
    .action(lazy(async () => (await import('../actions/token.js')).makeToken));
}
