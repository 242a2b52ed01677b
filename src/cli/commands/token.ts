import { createHash, randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { ConfigError, parseApiTokens, scopes, tokenNamePattern } from '../../config.js';
import { printJson } from '../output.js';

export function registerToken(program: Command) {
  program
    .command('token')
    .argument('<name>', "the token's name: logged instead of the token, and named when it lacks a scope")
    .requiredOption('--scopes <list>', `what it may do, comma-separated: ${scopes.join(', ')} (read: members, chat logs, sync status; chat: writing chat; admin: deleting sessions, syncing)`)
    .option('--json', 'print JSON: {name, scopes, token, entry}')
    .description('make an API token: prints it once, with the VECR_API_TOKENS entry that holds only its hash')
    .addHelpText(
      'after',
      `
The token is printed here and nowhere else: give it to whoever calls the API (Authorization: Bearer <token>).
The configuration keeps only its SHA-256. Several entries in VECR_API_TOKENS are separated by spaces.
Example: vecr token discord-bot --scopes read,chat`,
    )
    .action((name: string, options: { scopes: string; json?: boolean }) => {
      if (!tokenNamePattern.test(name)) throw new ConfigError(`the token's name must be 1 to 64 letters, digits, dots, dashes or underscores, not ${JSON.stringify(name)}`);
      const unknown = options.scopes.split(',').filter((scope) => !(scopes as readonly string[]).includes(scope));
      if (unknown.length > 0 || options.scopes === '') throw new ConfigError(`--scopes must be a comma-separated list of ${scopes.join(', ')}, not ${JSON.stringify(options.scopes)}`);
      // 256 random bits, with a prefix that says what it is (secret scanners look for such prefixes).
      const token = `vecr_${randomBytes(32).toString('base64url')}`;
      const entry = `${name}:${options.scopes}:sha256:${createHash('sha256').update(token).digest('hex')}`;
      // The entry is read back as the service will read it: a bad name or scope is refused here.
      const [parsed] = parseApiTokens(entry);
      if (options.json) {
        printJson({ name, scopes: parsed!.scopes, token, entry });
        return;
      }
      process.stdout.write(
        [
          `API token "${name}" (${parsed!.scopes.join(', ')}); shown this once, keep it secret:`,
          `  ${token}`,
          'Add this entry to VECR_API_TOKENS (several entries are separated by spaces):',
          `  ${entry}`,
          '',
        ].join('\n'),
      );
    });
}
