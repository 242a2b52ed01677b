import type { Command } from 'commander';
import { schemaStatus } from '../../db/migrate.js';
import { openDatabase } from '../../db/open.js';
import { configFrom } from '../context.js';
import { printJson } from '../output.js';

export function registerHealth(program: Command) {
  program
    .command('health')
    .description('exit 0 when the database answers and its schema is current, 1 otherwise, with the reason')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const report = await check(config);
      if (options.json) printJson(report);
      else process.stdout.write(`${report.ok ? 'ok' : 'FAIL'}: ${report.reason}\n`);
      if (!report.ok) process.exitCode = 1;
    });
}

async function check(config: ReturnType<typeof configFrom>) {
  let db;
  try {
    db = await openDatabase(config.database, { migrate: false });
  } catch (error) {
    return { ok: false, database: 'unreachable', reason: (error as Error).message };
  }
  try {
    await db.query('SELECT 1');
    const status = await schemaStatus(db);
    if (!status.current) {
      const pending = status.pending.map((m) => `${m.version}_${m.name}`).join(', ');
      return { ok: false, database: db.description, reason: `${db.description} answers, but migrations are pending: ${pending} (run vecr db migrate)` };
    }
    return { ok: true, database: db.description, reason: `${db.description} answers; schema current (${status.applied.length} migrations)` };
  } catch (error) {
    return { ok: false, database: db.description, reason: `${db.description}: ${(error as Error).message}` };
  } finally {
    await db.close();
  }
}
