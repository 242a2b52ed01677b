import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runConvergence } from '../helpers/convergence.js';
import { engines } from '../helpers/databases.js';
import { type RecordSeen, RegistryModel, type RowSeen } from './model.js';

/**
 * The whole pipeline, randomized and seeded, against the model of the rules (model.ts): after
 * the last event (and one reconcile where events were dropped) the database is what the rules
 * give for the same storage and history. A short run here, on a folder (checked every 30 steps
 * and at the end); `npm run test:soak -- --steps N` for long ones, and for S3 storage (s3rver
 * is too slow for this suite). A failing seed reruns with VECR_SEED=N (VECR_STEPS=N for more steps).
 */
const seeds = process.env.VECR_SEED ? [Number(process.env.VECR_SEED)] : [1, 2, 3];
const steps = Number(process.env.VECR_STEPS ?? 60);

const runs = engines.flatMap((engine) => seeds.map((seed) => [engine, seed] as const));

describe('convergence', () => {
  it.each(runs)('%s, seed %i: the database ends as the rules give', async (engine, seed) => {
    const result = await runConvergence({ seed, steps, engine, storage: 'folder', checkEvery: 30 });
    if (result.violations.length > 0) {
      const log = path.join(os.tmpdir(), `vecr-convergence-${engine}-${seed}.log`);
      fs.writeFileSync(log, `${result.trace.join('\n')}\n\nviolations:\n${result.violations.join('\n')}\n`);
      console.error(`seed=${seed} (rerun: VECR_SEED=${seed} npx vitest run test/sync/convergence.test.ts); every step and event: ${log}`);
    }
    expect(result.violations, `seed=${seed} (rerun: VECR_SEED=${seed} npx vitest run test/sync/convergence.test.ts)`).toEqual([]);
    // The faults happened: a run without them proves little.
    expect(result.counts.dropped + result.counts.duplicated).toBeGreaterThan(0);
  });
});

describe('the model of the rules', () => {
  const ids: Record<string, number> = { a: 1, b: 2, c: 3, d: 4 };
  const row = (name: string, file: string, id = ids[file]!): RowSeen => ({ kind: 'human', id, name, file_uri: `human_members/${file}.yml`, role: 'r' });
  const record = (file: string, status: string, ...codes: string[]): RecordSeen => ({ file_uri: `human_members/${file}.yml`, status, codes });
  const abc = () => {
    const model = new RegistryModel();
    for (const [file, name] of [
      ['a', 'A'],
      ['b', 'B'],
      ['c', 'C'],
    ] as const)
      model.write(`human_members/${file}.yml`, { kind: 'human', valid: true, name, role: 'r' });
    expect(model.anchor([row('A', 'a'), row('B', 'b'), row('C', 'c')])).toEqual([]);
    return model;
  };

  it('passes a name on when its holder names another member (issue 16, defect 5)', () => {
    const model = abc();
    model.write('human_members/b.yml', { kind: 'human', valid: true, name: 'C', role: 'r' });
    model.write('human_members/a.yml', { kind: 'human', valid: true, name: 'B', role: 'r' });
    // What the registry did: b refused for C keeps its row B, and a is refused for B.
    expect(
      model.check(
        [row('A', 'a'), row('B', 'b'), row('C', 'c')],
        [record('a', 'invalid', 'name_conflict'), record('b', 'invalid', 'name_conflict'), record('c', 'registered')],
      ),
    ).toEqual(['human row "B" belongs to human_members/b.yml, which names "C": a stale row blocks the name, claimed by human_members/a.yml']);
    // What the rules give: a gets B, c keeps C, b is refused and holds no name.
    expect(
      model.check([row('B', 'a'), row('C', 'c')], [record('a', 'registered'), record('b', 'invalid', 'name_conflict'), record('c', 'registered')]),
    ).toEqual([]);
    // Had a not claimed B, b's last good row could keep it (flagged): no other file wants it.
    model.write('human_members/a.yml', { kind: 'human', valid: true, name: 'A', role: 'r' });
    expect(
      model.check(
        [row('A', 'a'), row('B', 'b'), row('C', 'c')],
        [record('a', 'registered'), record('b', 'invalid', 'name_conflict'), record('c', 'registered')],
      ),
    ).toEqual([]);
  });

  it("keeps a name, and its row, with its holder while the holder's file claims it or is invalid", () => {
    const model = abc();
    model.write('human_members/a.yml', { kind: 'human', valid: false });
    model.write('human_members/d.yml', { kind: 'human', valid: true, name: 'A', role: 'r' });
    const records = [record('a', 'invalid', 'yaml'), record('b', 'registered'), record('c', 'registered')];
    expect(model.check([row('A', 'd'), row('B', 'b'), row('C', 'c')], [...records, record('d', 'registered')])).toEqual([
      'human_members/a.yml held human "A" and its file never let it go, but now human_members/d.yml holds it',
    ]);
    expect(model.check([row('A', 'a'), row('B', 'b'), row('C', 'c')], [...records, record('d', 'invalid', 'name_conflict')])).toEqual([]);
    // The same name, but a new row: created_at lost.
    expect(model.check([row('A', 'a', 9), row('B', 'b'), row('C', 'c')], [...records, record('d', 'invalid', 'name_conflict')])).toEqual([
      'human_members/a.yml kept human "A" but not its row: id 1 became 9',
    ]);
    // Once a's file is gone, the name passes on.
    model.remove('human_members/a.yml');
    expect(model.check([row('A', 'd'), row('B', 'b'), row('C', 'c')], [...records.slice(1), record('d', 'registered')])).toEqual([]);
  });
});
