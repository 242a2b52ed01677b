import { createHash, randomBytes } from 'node:crypto';
import { ConfigError, parseApiTokens, scopes, tokenNamePattern } from '../../config.js';
import { printJson } from '../output.js';

export function makeToken(name: string, options: { scopes: string; json?: boolean }) {
  if (!tokenNamePattern.test(name))
    throw new ConfigError(`the token's name must be 1 to 64 letters, digits, dots, dashes or underscores, not ${JSON.stringify(name)}`);
  const unknown = options.scopes.split(',').filter((scope) => !(scopes as readonly string[]).includes(scope));
  if (unknown.length > 0 || options.scopes === '')
    throw new ConfigError(`--scopes must be a comma-separated list of ${scopes.join(', ')}, not ${JSON.stringify(options.scopes)}`);
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
}
