import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { Db } from '../../src/db/types.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, writeFiles } from '../helpers/files.js';
import { vecrBin } from '../helpers/serveProcess.js';

const run = promisify(execFile);

/** A command's exit code and output, whether it succeeds or not. */
async function vecr(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [vecrBin, ...args], { env: { ...process.env, PORT: '0', VECR_PG_PORT: '0', VECR_RECONCILE_INTERVAL: '0', ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

/**
 * An older vecr on a database a newer one migrated: every command that opens it refuses, naming
 * both versions, and writes nothing; `vecr health` says so too. On each engine, as users run it.
 */
describe.each(engines)('an older vecr on a database migrated by a newer one, on %s', (engine) => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let server: TestDatabase | undefined;
  let env: NodeJS.ProcessEnv;
  /** The database as the commands describe it. */
  let where: string;
  const known = async () => Math.max(...(await loadMigrations()).map((m) => m.version));
  let future: number;

  /** The database, opened here (the embedded one only while no command has it). */
  const open = async (): Promise<Db> => (server ? openPostgres(server.url!) : openPglite(path.join(work.dir, 'data', 'pgdata')));

  beforeAll(async () => {
    work = await tempDir();
    await writeFiles(work.dir, { 'storage/human_members/rin.yml': human('Rin') });
    env = { VECR_STORAGE: path.join(work.dir, 'storage'), VECR_DATA_DIR: path.join(work.dir, 'data'), DATABASE_URL: '' };
    if (engine === 'postgres') {
      server = await freshDatabase('postgres');
      env.DATABASE_URL = server.url!;
    } else {
      expect((await vecr(['db', 'migrate'], env)).code).toBe(0);
    }
    future = (await known()) + 2;
    const db = await open();
    try {
      where = db.description;
      // What a newer vecr leaves behind: a migration this one does not know.
      await db.query("INSERT INTO vecr_migrations (version, name) VALUES ($1, 'from_a_newer_vecr')", [future]);
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    await server?.close();
    await work?.remove();
  });

  const refusal = async () =>
    `vecr: ${where} is at schema version ${future}, migrated by a newer vecr; this vecr knows schema versions up to ${await known()}: upgrade vecr (or restore a backup taken before the upgrade)\n`;

  it.each(['sync', 'db migrate'])('refuses vecr %s, naming both versions, and writes nothing', async (command) => {
    const result = await vecr(command.split(' '), env);
    expect(result).toEqual({ code: 1, stdout: '', stderr: await refusal() });
    const db = await open();
    try {
      expect((await db.query('SELECT count(*)::int AS n FROM human_members')).rows).toEqual([{ n: 0 }]);
      expect((await db.query('SELECT version FROM vecr_migrations ORDER BY version DESC LIMIT 1')).rows).toEqual([{ version: future }]);
    } finally {
      await db.close();
    }
  });

  it('refuses to serve, naming both versions', async () => {
    const result = await vecr(['serve'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain((await refusal()).trim());
    expect(result.stderr).not.toMatch(/listening on/);
  });

  it('fails vecr health with the same sentence', async () => {
    const result = await vecr(['health', '--json'], env);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).checks.database).toEqual({ ok: false, database: where, reason: (await refusal()).slice('vecr: '.length, -1) });
  });
});
