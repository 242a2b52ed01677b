import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerChatlog } from './commands/chatlog.js';
import { registerDb } from './commands/db.js';
import { registerFiles } from './commands/files.js';
import { registerHealth } from './commands/health.js';
import { registerMembers } from './commands/members.js';
import { registerPassword } from './commands/password.js';
import { registerServe } from './commands/serve.js';
import { registerSync } from './commands/sync.js';
import { registerToken } from './commands/token.js';
import { shown } from './output.js';

// The commands are defined here, cheaply: each loads its code when it runs (see lazy.ts).

// A reader that stops early (`vecr db backup | head`) closes the pipe: that is its choice, not
// a failure to report with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const program = new Command('vecr')
  .description('VECR Garage member registry: keeps the member database in step with the YAML member files')
  .version(packageVersion(), '-V, --version', 'print the version of vecr')
  .option('--database-url <url>', 'PostgreSQL server to use (default: $DATABASE_URL, else MEMBER_DB_*, else embedded PGlite)')
  .option('--data-dir <dir>', 'folder of the embedded database (default: $VECR_DATA_DIR or ./.vecr)')
  .showHelpAfterError()
  .addHelpText(
    'after',
    '\nConfiguration comes from the environment (see README): DATABASE_URL, MEMBER_DB_HOST/PORT/NAME/USER/PASSWORD,\nVECR_DATA_DIR, VECR_STORAGE (a folder or s3://BUCKET/PREFIX), S3_ENDPOINT, VECR_UPSERT_KEY, VECR_MAX_FILE_BYTES, PORT, ...',
  );

registerServe(program);
registerSync(program);
registerMembers(program);
registerFiles(program);
registerDb(program);
registerChatlog(program);
registerHealth(program);
registerToken(program);
registerPassword(program);

try {
  await program.parseAsync();
} catch (error) {
  if (!(error instanceof CommanderError)) {
    process.stderr.write(`vecr: ${shown(error instanceof Error ? error.message : String(error), { lines: true })}\n`);
    if (process.env.VECR_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  }
  process.exitCode = 1;
}

/** The version in the package.json of this installation: the nearest one above this file (it runs from dist/cli, bundled). */
function packageVersion(): string {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    const file = new URL('package.json', dir);
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
    if (dir.pathname === '/') return 'unknown';
  }
}
