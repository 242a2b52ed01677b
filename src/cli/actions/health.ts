import type { Command } from 'commander';
import type { Config } from '../../config.js';
import { lockOwner } from '../../db/lock.js';
import { NewerSchemaError, schemaStatus } from '../../db/migrate.js';
import { openDatabase } from '../../db/open.js';
import { configFrom, embeddedChatStore, embeddedDatabase, embeddedStoreExists, noStoreMessage } from '../context.js';
import { printJson } from '../output.js';

export async function checkHealth(options: { json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const report = await check(config);
  if (options.json) printJson(report);
  else process.stdout.write(`${report.checks.database.ok ? 'ok' : 'FAIL'}: ${report.reason}\n`);
  if (!report.ok) process.exitCode = 1;
}

async function check(config: Config) {
  // Side by side: a health check every few seconds waits for the slower of the two, not both.
  const [database, chatlog] = await Promise.all([checkDatabase(config), checkChatlog(config)]);
  return {
    ok: database.ok && chatlog.ok,
    database: database.database,
    reason: `${database.reason}\n${chatlog.ok ? 'ok' : 'FAIL'}: ${chatlog.reason}`,
    checks: { database, chatlog },
  };
}

/**
 * The chat log store. The embedded one that a running `vecr serve` serves (what a container's
 * health check finds) is asked over HTTP directly: its own signature check answers, with no AWS
 * SDK to load every few seconds. No embedded store at all is a failure, and none is made.
 */
async function checkChatlog(config: Config) {
  if (config.chatlog.embedded) {
    const store = embeddedChatStore(config);
    const owner = await lockOwner(store.folder);
    if (owner?.port) return probeEmbeddedStore(config.chatlog.table, owner.port, owner.pid);
    if (!owner && !(await embeddedStoreExists(store))) return { ok: false, reason: noStoreMessage(store) };
  }
  const { openChatStore } = await import('../../chatlog/open.js');
  let chat: Awaited<ReturnType<typeof openChatStore>> | undefined;
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

/** A request without a signature: the embedded store's server refuses it in DynamoDB's own words, which is an answer. */
async function probeEmbeddedStore(table: string, port: number, pid: number): Promise<{ ok: boolean; reason: string }> {
  // Not `import http from 'node:http'`: an ES module's import of it reads every export, and its
  // web ones (WebSocket, ...) load Node's fetch implementation, a fifth of this command's start.
  // (getBuiltinModule is Node.js 22.3 and later.)
  const http = process.getBuiltinModule?.('node:http') ?? (await import('node:http')).default;
  const where = `chat log store ${table} at the embedded store of process ${pid}`;
  return new Promise((resolve) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        timeout: 3000,
        headers: { 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0' },
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () =>
          resolve(
            body.includes('MissingAuthenticationToken')
              ? { ok: true, reason: `${where} answers` }
              : { ok: false, reason: `${where} (127.0.0.1:${port}) answers ${response.statusCode}: ${body.slice(0, 200)}` },
          ),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 3 s')));
    request.on('error', (error) => resolve({ ok: false, reason: `${where} (127.0.0.1:${port}): ${error.message}` }));
    request.end('{}');
  });
}

async function checkDatabase(config: Config) {
  if (config.database.engine === 'pglite' && !(await embeddedStoreExists(embeddedDatabase(config.database.dataDir)))) {
    return { ok: false, database: 'none', reason: noStoreMessage(embeddedDatabase(config.database.dataDir)) };
  }
  let db: Awaited<ReturnType<typeof openDatabase>>;
  try {
    db = await openDatabase(config.database, { migrate: false, brief: true });
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
