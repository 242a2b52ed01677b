import { describe, expect, it } from 'vitest';
import { engines, freshDatabase } from '../helpers/databases.js';

/** A statement that writes one row, its trigger given as an SQL expression, and answers it. */
const insertRun = (trigger: string) =>
  `INSERT INTO sync_runs (trigger, started_at, created, updated, unchanged, deleted, invalid) VALUES (${trigger}, now(), 0, 0, 0, 0, 0) RETURNING trigger`;

describe.each(engines)('a transaction on %s', (engine) => {
  it('takes statements sent at once in turn, in the order sent, without a warning from the driver', async () => {
    const db = await freshDatabase(engine);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const run = (trigger: string) => insertRun(`'${trigger}'`);
      const counted = await db.transaction(async (tx) => {
        const [, , count] = await Promise.all([
          tx.query(run('first')),
          tx.query(run('second')),
          tx.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_runs'),
        ]);
        return count.rows[0]!.n;
      });
      expect(counted).toBe(2);
      // A failing statement among others sent at once rolls the whole transaction back.
      await expect(
        db.transaction((tx) => Promise.all([tx.query(run('third')), tx.query('SELECT no_such_column FROM sync_runs'), tx.query(run('fourth'))])),
      ).rejects.toThrow(/no_such_column/);
      expect((await db.query<{ trigger: string }>('SELECT trigger FROM sync_runs ORDER BY id')).rows.map((row) => row.trigger)).toEqual(['first', 'second']);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await db.close();
    }
  });

  it('keeps its first statement inside the transaction, with or without parameters, and answers its rows', async () => {
    const db = await freshDatabase(engine);
    try {
      const triggers = () => db.query<{ trigger: string }>('SELECT trigger FROM sync_runs ORDER BY id').then((r) => r.rows.map((row) => row.trigger));
      // A first statement without parameters (sent with BEGIN on a server) is rolled back with the rest.
      await expect(
        db.transaction(async (tx) => {
          expect((await tx.query<{ trigger: string }>(insertRun("'plain'"))).rows).toEqual([{ trigger: 'plain' }]);
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      // ... and so is one with parameters.
      await expect(
        db.transaction(async (tx) => {
          expect((await tx.query<{ trigger: string }>(insertRun('$1'), ['bound'])).rows).toEqual([{ trigger: 'bound' }]);
          await tx.query('SELECT no_such_column FROM sync_runs');
        }),
      ).rejects.toThrow(/no_such_column/);
      expect(await triggers()).toEqual([]);
      // A transaction that sends nothing commits nothing, and the next one works as usual.
      expect(await db.transaction(async () => 'nothing sent')).toBe('nothing sent');
      const counted = await db.transaction(async (tx) => {
        await tx.exec(`${insertRun("'script'")}; ${insertRun("'script, again'")}`);
        return (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_runs')).rows[0]!.n;
      });
      expect(counted).toBe(2);
      expect(await triggers()).toEqual(['script', 'script, again']);
    } finally {
      await db.close();
    }
  });

  it('lets no statement run outside it when its first statement has a syntax error', async () => {
    const db = await freshDatabase(engine);
    try {
      const insert = (trigger: string) => insertRun(`'${trigger}'`);
      // Sent at once: the failing first statement (sent with BEGIN on a server) takes the rest down.
      await expect(db.transaction((tx) => Promise.all([tx.query('SELEC 1'), tx.query(insert('sent with it'))]))).rejects.toThrow(/syntax/);
      // Sent after the failure was caught: refused, as in any transaction aborted by an error.
      const later = await db
        .transaction(async (tx) => {
          await tx.query('SELEC 1').catch(() => {});
          return tx.query(insert('sent after it')).then(
            () => 'written',
            () => 'refused',
          );
        })
        .catch(() => 'rolled back');
      expect(later).not.toBe('written');
      expect((await db.query('SELECT trigger FROM sync_runs')).rows).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('refuses a statement sent after it has ended, and leaves no connection inside a transaction', async () => {
    const db = await freshDatabase(engine);
    try {
      const insert = insertRun("'late'");
      let late: Promise<string> | undefined;
      await db.transaction(async (tx) => {
        setImmediate(() => {
          late = Promise.resolve()
            .then(() => tx.query(insert))
            .then(
              () => 'written',
              () => 'refused',
            );
        });
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(await late).toBe('refused');
      expect((await db.query('SELECT trigger FROM sync_runs')).rows).toEqual([]);
      // The connection went back to the pool clean: the next transactions see and write as usual.
      expect(await db.transaction(async (tx) => (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_runs')).rows[0]!.n)).toBe(0);
      if (engine === 'postgres') {
        const open = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        );
        expect(open.rows[0]!.n).toBe(0);
      }
    } finally {
      await db.close();
    }
  });
});
