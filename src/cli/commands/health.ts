import type { Command } from 'commander';
import { lazy } from '../lazy.js';

export function registerHealth(program: Command) {
  program
    .command('health')
    .description('exit 0 when the database answers with a current schema and the chat log store answers; 1 otherwise, with the reason')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await import('../actions/health.js')).checkHealth));
}
