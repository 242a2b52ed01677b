import type { Command } from 'commander';
import { NewerSchemaError, schemaStatus } from '../../db/migrate.js';
import { openDatabase } from '../../db/open.js';
import { configFrom } from '../context.js';
import { printJson } from '../output.js';

export function registerHealth(program: Command) {
  program
    .command('health')
    .description('exit 0 when the database answers with a current schema and the chat log store answers; 1 otherwise, with the reason')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const report = await check(config);
      if (options.json) printJson(report);
      else process.stdout.write(`${report.checks.database.ok ? 'ok' : 'FAIL'}: ${report.reason}\n`);
      if (!report.ok) process.exitCode = 1;
    });
}

async function check(config: ReturnType<typeof configFrom>) {
  const database = await checkDatabase(config);
  const chatlog = await checkChatlog(config);
  return {
    ok: database.ok && chatlog.ok,
    database: database.database,
    reason: `${database.reason}\n${chatlog.ok ? 'ok' : 'FAIL'}: ${chatlog.reason}`,
    checks: { database, chatlog },
  };
}

async function checkChatlog(config: ReturnType<typeof configFrom>) {
  const { openChatStore } = await import('../../chatlog/open.js');
  let chat;
  try {
    chat = await openChatStore(config);
    await chat.check();
    return { ok: true, reason: `chat log store ${chat.description} answers` };
  } catch (error) {
    return { ok: false, reason: `chat log store: ${(error as Error).message}` };
  } finally {
    await chat?.close().catch(() => {});
  }
}

async function checkDatabase(config: ReturnType<typeof configFrom>) {
  let db;
  try {
    db = await openDatabase(config.database, { migrate: false });
  } catch (error) {
    return { ok: false, database: 'unreachable', reason: (error as Error).message };
  }
  try {
    await db.query('SELECT 1');
    const status = await schemaStatus(db);
    if (status.newer) {
      return { ok: false, database: db.description, reason: new NewerSchemaError(db.description, status.newer.version, status.newer.known).message };
    }
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
