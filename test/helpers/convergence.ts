import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { runService, type Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { RegistryModel, type FileState, type MemberKind, type RecordSeen, type RowSeen } from '../sync/model.js';
import { freshDatabase, type Engine } from './databases.js';
import { tempDir } from './files.js';

/**
 * A seeded, randomized run of the whole pipeline against the model of the rules
 * (test/sync/model.ts). Storage is a real folder; events go through the webhook route of the
 * real service (Fastify's `inject`: the route, the Registrar and its group commit, no socket);
 * reconciles are the service's own. Each step changes storage — a put, an edit, a member
 * renamed, a file made invalid or valid again, a file moved, a delete, two names swapped, a
 * chain of names passed along — and hands its events to a faulty delivery: dropped, duplicated,
 * held back for later steps, reordered, sent one by one or several to a request, awaited or
 * still in flight while storage changes again. Now and then the service restarts (closed and
 * started again on the same database: its start-up reconcile runs beside the events), a
 * periodic reconcile runs, or the run waits for quiet and shows the model the rows (holders it
 * must keep from then on). At the end every event held back is delivered, one reconcile runs
 * if any event was dropped, and the database is checked against the model; then one more
 * reconcile must find nothing to change.
 */
export interface ConvergenceOptions {
  seed: number;
  steps: number;
  engine: Engine;
  /** Called every so often with the steps done. */
  onProgress?: (done: number) => void;
}

export interface ConvergenceResult {
  /** What contradicts the rules; empty when the run converged. */
  violations: string[];
  /** Every step, event and check, one line each: what to read when a run fails. */
  trace: string[];
  counts: { events: number; dropped: number; duplicated: number; requests: number; restarts: number; reconciles: number; anchors: number };
}

const bucket = 'vecr-garage-storage';
/** Few names and few files, so that claims collide often. */
const names = ['Ann', 'Bo', 'Cy', 'Di', '華扇', 'Ed'];
const keysOf: Record<MemberKind, string[]> = {
  human: ['human_members/h0.yml', 'human_members/h1.yml', 'human_members/h2.yml', 'human_members/h3.yml', 'human_members/華 扇.yml', 'team/human_members/h5.yaml'],
  virtual: ['virtual_members/v0.yml', 'virtual_members/v1.yml', 'virtual_members/v2.yml', 'virtual_members/v3.yml', 'virtual_members/v 4.yml'],
};
const kinds: MemberKind[] = ['human', 'virtual'];

/** Probabilities of the faults and of the things that happen between steps. */
const chance = { drop: 0.08, duplicate: 0.15, holdBack: 0.45, inFlight: 0.4, restart: 0.02, reconcile: 0.03, anchor: 0.1, invalid: 0.15 };

interface EventRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; eTag?: string; sequencer: string } };
}

export async function runConvergence(options: ConvergenceOptions): Promise<ConvergenceResult> {
  const random = seeded(options.seed);
  const trace: string[] = [];
  const counts = { events: 0, dropped: 0, duplicated: 0, requests: 0, restarts: 0, reconciles: 0, anchors: 0 };
  const violations: string[] = [];
  const model = new RegistryModel();
  const folder = await tempDir('vecr-convergence-');
  const db = await freshDatabase(options.engine);
  const storage = folderStorage(folder.dir);
  const config = loadConfig({ PORT: '0', VECR_RECONCILE_INTERVAL: '0', VECR_WATCH: 'false', VECR_DATA_DIR: '/nonexistent', VECR_STORAGE: folder.dir });
  let service: Service | undefined;
  /** Events sent and not answered yet, and reconciles running. */
  const inFlight = new Set<Promise<void>>();
  /** Events produced and not delivered yet. */
  let held: EventRecord[] = [];
  let sequencer = 0;
  let roles = 0;

  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const shuffle = <T>(items: T[]): T[] => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  };
  const track = (work: Promise<void>) => {
    const tracked = work.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  const settle = async () => {
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    await service!.context.registrar.idle();
    // A reconcile under way (the one at start): asking for a run joins it.
    if (service!.context.reconciler!.isRunning) await service!.context.reconciler!.run('join').catch(() => {});
    await service!.context.registrar.idle();
  };

  // Storage: whole files replaced at once, as an object store does.
  const emit = (key: string, removed: boolean, content?: string) => {
    const record: EventRecord = {
      eventName: removed ? pick(['s3:ObjectRemoved:Delete', 'ObjectRemoved:Delete']) : pick(['s3:ObjectCreated:Put', 'ObjectCreated:Put', 's3:ObjectCreated:Copy']),
      s3: {
        bucket: { name: bucket },
        object: {
          key: encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+'),
          // Sequencers grow per key (one counter for all); their lengths differ, as S3's do.
          sequencer: (++sequencer).toString(16).toUpperCase().padStart(Math.floor(random() * 20), '0'),
          ...(content === undefined ? {} : { eTag: `"${createHash('md5').update(content).digest('hex')}"` }),
        },
      },
    };
    counts.events++;
    if (random() < chance.drop) {
      counts.dropped++;
      trace.push(`  event ${record.s3.object.sequencer} ${key}: dropped`);
      return;
    }
    held.push(record);
    if (random() < chance.duplicate) {
      counts.duplicated++;
      held.push(structuredClone(record));
    }
  };
  /** Writes a file; `announce` false for the files there before the service starts. */
  const put = (key: string, state: FileState, announce = true) => {
    const content = render(state, ++roles, random);
    const file = path.join(folder.dir, key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, content);
    fs.renameSync(`${file}.tmp`, file);
    model.write(key, state.valid ? { ...state, role: roleIn(content) } : state);
    trace.push(`  put ${key}: ${JSON.stringify(content)}`);
    if (announce) emit(key, false, content);
  };
  const remove = (key: string) => {
    fs.rmSync(path.join(folder.dir, key));
    model.remove(key);
    trace.push(`  delete ${key}`);
    emit(key, true);
  };
  const move = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(path.join(folder.dir, to)), { recursive: true });
    fs.renameSync(path.join(folder.dir, from), path.join(folder.dir, to));
    const state = model.storage.get(from)!;
    model.remove(from);
    model.write(to, state);
    trace.push(`  move ${from} → ${to}`);
    emit(to, false, fs.readFileSync(path.join(folder.dir, to), 'utf8'));
    emit(from, true);
  };

  // Delivery: the events chosen, in random order, one to three to a request.
  const deliver = (events: EventRecord[]) => {
    const sends: Array<() => Promise<void>> = [];
    for (let i = 0; i < events.length; ) {
      const records = events.slice(i, (i += 1 + Math.floor(random() * 3)));
      sends.push(() => post(records));
    }
    return sends;
  };
  const post = async (records: EventRecord[]) => {
    counts.requests++;
    const label = records.map((r) => `${r.eventName.replace(/^s3:/, '')} ${decodeURIComponent(r.s3.object.key.replace(/\+/g, ' '))}@${r.s3.object.sequencer.replace(/^0+/, '')}`).join(', ');
    const response = await service!.http.inject({ method: 'POST', url: '/webhook/storage', headers: { host: '127.0.0.1' }, payload: { Records: records } });
    const outcomes = response.statusCode === 200 ? (response.json() as { records: Array<{ outcome: string; name?: string }> }).records.map((r) => r.outcome + (r.name ? ` ${r.name}` : '')).join(', ') : response.body;
    trace.push(`  sent [${label}] → ${response.statusCode} ${outcomes}`);
    if (response.statusCode !== 200) violations.push(`a webhook request answered ${response.statusCode}: ${response.body}`);
  };
  const deliverSome = async () => {
    const now: EventRecord[] = [];
    const later: EventRecord[] = [];
    for (const event of held) (random() < chance.holdBack ? later : now).push(event);
    held = later;
    for (const send of deliver(shuffle(now))) {
      if (random() < chance.inFlight) track(send());
      else await send();
    }
  };

  const start = async () => {
    service = await runService(config, { db, storage });
  };
  const snapshot = async (): Promise<{ rows: RowSeen[]; records: RecordSeen[] }> => {
    const rows: RowSeen[] = [];
    for (const kind of kinds) {
      const { rows: found } = await db.query<{ name: string; file_uri: string | null; role: string | null }>(`SELECT name, file_uri, role FROM ${kind}_members ORDER BY name`);
      rows.push(...found.map((row) => ({ kind, ...row })));
    }
    const { rows: records } = await db.query<RecordSeen>(
      `SELECT file_uri, status, COALESCE((SELECT array_agg(e->>'code') FROM jsonb_array_elements(errors) e), '{}') AS codes FROM member_files ORDER BY file_uri`,
    );
    return { rows, records };
  };

  try {
    // A few members to begin with, registered by the first reconcile.
    for (const kind of kinds) for (const key of keysOf[kind].slice(0, 3)) put(key, { kind, valid: true, name: pick(names), role: '' }, false);
    await start();
    await settle();

    for (let step = 1; step <= options.steps; step++) {
      const operation = changeStorage(step);
      trace.push(`#${step} ${operation}`);
      await deliverSome();
      if (random() < chance.reconcile) {
        counts.reconciles++;
        trace.push('  reconcile (periodic)');
        track(service!.context.reconciler!.run('interval').then(
          (report) => void trace.push(`  reconciled: ${summary(report)}`),
          (error: unknown) => void violations.push(`a reconcile failed: ${(error as Error).message}`),
        ));
      }
      if (random() < chance.restart) {
        counts.restarts++;
        while (inFlight.size > 0) await Promise.all([...inFlight]);
        await service!.close();
        trace.push('  service restarted (its start-up reconcile runs beside the next events)');
        await start();
      }
      if (random() < chance.anchor) {
        counts.anchors++;
        await settle();
        const { rows } = await snapshot();
        trace.push(`  quiet; rows: ${rows.map((r) => `${r.kind[0]}:${r.name}=${r.file_uri}`).join(' ')}`);
        for (const violation of model.anchor(rows)) violations.push(`after step ${step}: ${violation}`);
      }
      if (step % 100 === 0) options.onProgress?.(step);
      if (violations.length > 0) break;
    }

    // The end: every event held back arrives, in any order, then one reconcile where some were dropped.
    trace.push('# end: every event held back is delivered');
    await Promise.all(deliver(shuffle(held)).map((send) => send()));
    held = [];
    await settle();
    if (counts.dropped > 0) {
      trace.push('# reconcile (events were dropped)');
      trace.push(`  reconciled: ${summary(await service!.context.reconciler!.run('final'))}`);
      await service!.context.registrar.idle();
    }
    const final = await snapshot();
    trace.push(`# rows: ${final.rows.map((r) => `${r.kind[0]}:${r.name}=${r.file_uri}`).join(' ')}`);
    trace.push(`# records: ${final.records.map((r) => `${r.file_uri}=${r.status}${r.codes.length ? `(${r.codes.join(',')})` : ''}`).join(' ')}`);
    violations.push(...model.check(final.rows, final.records));
    if (violations.length === 0) {
      // Converged means a fixed point: a full sync finds nothing left to do.
      const again = await service!.context.reconciler!.run('check');
      trace.push(`# reconcile once more: ${summary(again)}`);
      if (again.created + again.updated + again.deleted > 0) violations.push(`a reconcile after convergence still changed something: ${summary(again)}`);
    }
    return { violations, trace, counts };
  } finally {
    await Promise.allSettled([...inFlight]);
    await service?.close().catch(() => {});
    await db.close();
    await folder.remove();
  }

  /** One random change to storage; answers what it was, for the trace. */
  function changeStorage(step: number): string {
    const kind = pick(kinds);
    const present = keysOf[kind].filter((key) => model.storage.has(key));
    const absent = keysOf[kind].filter((key) => !model.storage.has(key));
    const total = model.storage.size;
    const state = (): FileState => (random() < chance.invalid ? { kind, valid: false } : { kind, valid: true, name: pick(names), role: '' });
    const named = (key: string, name: string): FileState => ({ kind, valid: true, name, role: '' });
    const nameOf = (key: string) => {
      const file = model.storage.get(key)!;
      return file.valid ? file.name : pick(names);
    };
    const roll = random();
    if (present.length === 0 || (roll < 0.2 && absent.length > 0)) {
      const key = pick(absent);
      put(key, state());
      return `put a new file ${key}`;
    }
    if (roll < 0.35) {
      const key = pick(present);
      const file = model.storage.get(key)!;
      put(key, file.valid ? named(key, file.name) : state());
      return `edit ${key}${file.valid ? ' (same name)' : ''}`;
    }
    if (roll < 0.5) {
      const key = pick(present);
      put(key, named(key, pick(names)));
      return `rename the member of ${key}`;
    }
    if (roll < 0.58) {
      const key = pick(present);
      put(key, { kind, valid: false });
      return `make ${key} invalid`;
    }
    if (roll < 0.66 && absent.length > 0) {
      const from = pick(present);
      const to = pick(absent);
      move(from, to);
      return `move ${from} to ${to}`;
    }
    if (roll < 0.76 && total > 1) {
      const key = pick(present);
      remove(key);
      return `delete ${key}`;
    }
    if (roll < 0.88 && present.length >= 2) {
      const [a, b] = shuffle([...present]).slice(0, 2) as [string, string];
      const [nameA, nameB] = [nameOf(a), nameOf(b)];
      const writes = shuffle([() => put(a, named(a, nameB)), () => put(b, named(b, nameA))]);
      for (const write of writes) write();
      return `swap the names of ${a} and ${b}`;
    }
    if (present.length >= 2) {
      // A chain: each file takes the name of the next; the last takes a name of the pool (maybe the first's: a cycle).
      const chain = shuffle([...present]).slice(0, 2 + Math.floor(random() * (present.length - 1)));
      const taken = chain.map((key, i) => (i + 1 < chain.length ? nameOf(chain[i + 1]!) : pick(names)));
      const writes = shuffle(chain.map((key, i) => () => put(key, named(key, taken[i]!))));
      for (const write of writes) write();
      return `chain the names along ${chain.join(' ← ')}`;
    }
    const key = pick(present);
    put(key, state());
    return `rewrite ${key} (step ${step})`;
  }
}

/** A member file's text; a new role each time, so every write changes the content. */
function render(state: FileState, serial: number, random: () => number): string {
  if (!state.valid) {
    const invalid = state.kind === 'human'
      ? ['', 'role: nobody\n', 'name: 123\n', 'name: Ann\nskils: [TypeScript]\n', 'name: [Ann\n', 'name: Bo\nname: Cy\n']
      : ['name: Ann\n', 'llm_model: m\n', 'name: Bo\nllm_model: m\nsystem_prompt: a\ncustom_prompt: b\n'];
    return invalid[Math.floor(random() * invalid.length)]!;
  }
  const role = `r${serial}`;
  const name = /^[A-Za-z]+$/.test(state.name) ? state.name : JSON.stringify(state.name);
  return state.kind === 'human' ? `name: ${name}\nrole: ${role}\nskills: [TypeScript]\n` : `name: ${name}\nrole: ${role}\nllm_model: claude-sonnet-4-5\n`;
}

function roleIn(content: string): string {
  return /^role: (.*)$/m.exec(content)![1]!;
}

function summary(report: { created: number; updated: number; unchanged: number; deleted: number; invalid: number }): string {
  return `created ${report.created}, updated ${report.updated}, unchanged ${report.unchanged}, deleted ${report.deleted}, invalid ${report.invalid}`;
}

/** mulberry32: a small, fast generator; the same seed gives the same run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
