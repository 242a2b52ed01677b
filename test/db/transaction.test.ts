import { describe, expect, it } from 'vitest';
import { engines, freshDatabase } from '../helpers/databases.js';

describe.each(engines)('a transaction on %s', (engine) => {
  it('takes statements sent at once in turn, in the order sent, without a warning from the driver', async () => {
    const db = await freshDatabase(engine);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const run = (trigger: string) =>
        `INSERT INTO sync_runs (trigger, started_at, created, updated, unchanged, deleted, invalid) VALUES ('${trigger}', now(), 0, 0, 0, 0, 0)`;
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
      const insert = (trigger: string) =>
        `INSERT INTO sync_runs (trigger, started_at, created, updated, unchanged, deleted, invalid) VALUES (${trigger}, now(), 0, 0, 0, 0, 0) RETURNING trigger`;
      const triggers = () => db.query<{ trigger: string }>('SELECT trigger FROM sync_runs ORDER BY id').then((r) => r.rows.map((row) => row.trigger));
      // A first statement without parameters (sent with BEGIN on a server) is rolled back with the rest.
      await expect(
        db.transaction(async (tx) => {
          expect((await tx.query<{ trigger: string }>(insert("'plain'"))).rows).toEqual([{ trigger: 'plain' }]);
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      // ... and so is one with parameters.
      await expect(
        db.transaction(async (tx) => {
          expect((await tx.query<{ trigger: string }>(insert('$1'), ['bound'])).rows).toEqual([{ trigger: 'bound' }]);
          await tx.query('SELECT no_such_column FROM sync_runs');
        }),
      ).rejects.toThrow(/no_such_column/);
      expect(await triggers()).toEqual([]);
      // A transaction that sends nothing commits nothing, and the next one works as usual.
      expect(await db.transaction(async () => 'nothing sent')).toBe('nothing sent');
      const counted = await db.transaction(async (tx) => {
        await tx.exec(`${insert("'script'")}; ${insert("'script, again'")}`);
        return (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_runs')).rows[0]!.n;
      });
      expect(counted).toBe(2);
      expect(await triggers()).toEqual(['script', 'script, again']);
    } finally {
      await db.close();
    }
  });
});
