import type { Command } from 'commander';
import { lazy } from '../lazy.js';

export function registerSync(program: Command) {
  program
    .command('sync')
    .description('reconcile the database with the member files in storage')
    .option('--storage <where>', 'a folder, or s3://BUCKET[/PREFIX] (default: $VECR_STORAGE or ./storage)')
    .option('--dry-run', 'report what would change, change nothing')
    .option('--no-delete', 'keep members whose files are gone')
    .option('--allow-empty', 'let a storage without any member files delete every member (refused otherwise: an unmounted folder looks empty)')
    .option('--key <key>', 'match rows by "file_uri" (default) or by "name" (the older behaviour)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit status: 0 when every file is valid, 1 when any file is invalid or the sync failed.')
    .action(lazy(async () => (await import('../actions/sync.js')).syncCommand));
}
