import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { defaultBucket, loadConfig } from '../../src/config.js';
import { runService, type Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import type { Storage } from '../../src/storage/types.js';
import { type FileState, type MemberKind, type RecordSeen, RegistryModel, type RowSeen } from '../sync/model.js';
import { type Engine, freshDatabase } from './databases.js';
import { tempDir } from './files.js';
import { startS3 } from './s3.js';

/**
 * A seeded, randomized run of the whole pipeline against the model of the rules
 * (test/sync/model.ts). Storage is a real folder, or a bucket on s3rver; events go through the
 * webhook route of the real service (Fastify's `inject`: the route, the Registrar and its group
 * commit, no socket); reconciles are the service's own. Each step changes storage — a put, an edit, a member
 * renamed, a file made invalid or valid again, a file moved, a delete, two names swapped, a
 * chain of names passed along — and hands its events to a faulty delivery: dropped, duplicated,
 * held back for later steps, reordered, sent one by one or several to a request, awaited or
 * still in flight while storage changes again. Now and then the service restarts (closed and
 * started again on the same database: its start-up reconcile runs beside the events; a quarter
 * of the time with WEBHOOK_ETAG_CHECK_ENABLED=false, so that repeats are applied again; on a
 * folder, half of the time watching it, a second source of the same changes), a
 * periodic reconcile runs, or the run waits for quiet and shows the model the rows (holders it
 * must keep from then on). Every `checkEvery` steps and at the end, every event held back is
 * delivered, one reconcile runs if any event was dropped since the last check, and the database
 * is checked against the model; then one more reconcile must find nothing to change.
 *
 * The seed fixes every choice: the storage changes, which events are dropped, duplicated or held
 * back, how they are grouped, what is awaited, restarts and reconciles. How requests that are in
 * flight together interleave inside the service is real concurrency, and may differ on a rerun.
 */
export interface ConvergenceOptions {
  seed: number;
  steps: number;
  engine: Engine;
  /** A folder, or a bucket of an S3-protocol server (s3rver) below a prefix. */
  storage: 'folder' | 's3';
  /** Steps between two convergence checks (each also at the end); default 50. */
  checkEvery?: number;
  /** Called every so often with the steps done. */
  onProgress?: (done: number) => void;
}

export interface ConvergenceResult {
  /** What contradicts the rules; empty when the run converged. */
  violations: string[];
  /** Every step, event and check, one line each: what to read when a run fails. */
  trace: string[];
  counts: { events: number; dropped: number; duplicated: number; requests: number; outages: number; restarts: number; reconciles: number; anchors: number };
}

/** Few names and few files, so that claims collide often. */
const names = ['Ann', 'Bo', 'Cy', 'Di', '華扇', 'Ed'];
const keysOf: Record<MemberKind, string[]> = {
  human: [
    'human_members/h0.yml',
    'human_members/h1.yml',
    'human_members/h2.yml',
    'human_members/h3.yml',
    'human_members/華 扇.yml',
    'team/human_members/h5.yaml',
  ],
  virtual: ['virtual_members/v0.yml', 'virtual_members/v1.yml', 'virtual_members/v2.yml', 'virtual_members/v3.yml', 'virtual_members/v 4.yml'],
};
const kinds: MemberKind[] = ['human', 'virtual'];

/** Probabilities of the faults and of the things that happen between steps. */
const chance = {
  drop: 0.08,
  duplicate: 0.15,
  holdBack: 0.45,
  inFlight: 0.4,
  restart: 0.02,
  repeatsApplied: 0.25,
  watch: 0.5,
  reconcile: 0.03,
  anchor: 0.1,
  invalid: 0.15,
};

interface EventRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; eTag?: string; sequencer: string } };
}

export async function runConvergence(options: ConvergenceOptions): Promise<ConvergenceResult> {
  const random = seeded(options.seed);
  const trace: string[] = [];
  const counts = { events: 0, dropped: 0, duplicated: 0, requests: 0, outages: 0, restarts: 0, reconciles: 0, anchors: 0 };
  const violations: string[] = [];
  const checkEvery = options.checkEvery ?? 50;
  const model = new RegistryModel();
  const place = options.storage === 's3' ? await bucketPlace() : await folderPlace();
  const db = await freshDatabase(options.engine);
  let service: Service | undefined;
  /** Events sent and not answered yet, and reconciles running. */
  const inFlight = new Set<Promise<void>>();
  /** Events produced and not delivered yet. */
  let held: EventRecord[] = [];
  let sequencer = 0;
  let roles = 0;
  /** Events dropped and answered 503 until the last time the database converged (a reconcile healed them). */
  const healed = { dropped: 0, outages: 0 };

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

  const emit = (key: string, removed: boolean, content?: string) => {
    const record: EventRecord = {
      eventName: removed
        ? pick(['s3:ObjectRemoved:Delete', 'ObjectRemoved:Delete'])
        : pick(['s3:ObjectCreated:Put', 'ObjectCreated:Put', 's3:ObjectCreated:Copy']),
      s3: {
        bucket: { name: defaultBucket },
        object: {
          key: encodeURIComponent(place.prefix + key)
            .replace(/%2F/g, '/')
            .replace(/%20/g, '+'),
          // Sequencers grow per key (one counter for all); their lengths differ, as S3's do.
          sequencer: (++sequencer)
            .toString(16)
            .toUpperCase()
            .padStart(Math.floor(random() * 20), '0'),
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
  const put = async (key: string, state: FileState, announce = true) => {
    const content = render(state, ++roles, random);
    await place.put(key, content);
    model.write(key, state.valid ? { ...state, role: roleIn(content) } : state);
    trace.push(`  put ${key}: ${JSON.stringify(content)}`);
    if (announce) emit(key, false, content);
  };
  const remove = async (key: string) => {
    await place.remove(key);
    model.remove(key);
    trace.push(`  delete ${key}`);
    emit(key, true);
  };
  const move = async (from: string, to: string) => {
    const content = await place.move(from, to);
    const state = model.storage.get(from)!;
    model.remove(from);
    model.write(to, state);
    trace.push(`  move ${from} → ${to}`);
    emit(to, false, content);
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
    const label = records
      .map((r) => `${r.eventName.replace(/^s3:/, '')} ${decodeURIComponent(r.s3.object.key.replace(/\+/g, ' '))}@${r.s3.object.sequencer.replace(/^0+/, '')}`)
      .join(', ');
    const response = await service!.http.inject({ method: 'POST', url: '/webhook/storage', headers: { host: '127.0.0.1' }, payload: { Records: records } });
    const outcomes =
      response.statusCode === 200
        ? (response.json() as { records: Array<{ outcome: string; name?: string }> }).records.map((r) => r.outcome + (r.name ? ` ${r.name}` : '')).join(', ')
        : response.body;
    trace.push(`  sent [${label}] → ${response.statusCode} ${outcomes}`);
    if (response.statusCode === 503 && place.mayFail) {
      // An outage: nothing was written, and the storage sends the events again later (MinIO's queue_dir).
      counts.outages++;
      held.push(...records);
    } else if (response.statusCode !== 200) {
      violations.push(`a webhook request answered ${response.statusCode}: ${response.body}`);
    }
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

  /**
   * The service on the same database; now and then with WEBHOOK_ETAG_CHECK_ENABLED=false
   * (repeats applied again), and on a folder half of the time watching it too (each change
   * registered by the watcher as well as by its events). Answers how, for the trace.
   */
  const start = async () => {
    const etagCheck = random() >= chance.repeatsApplied;
    const watch = place.watchable && random() < chance.watch;
    const config = loadConfig({
      PORT: '0',
      VECR_RECONCILE_INTERVAL: '0',
      VECR_WATCH: String(watch),
      VECR_DATA_DIR: '/nonexistent',
      VECR_STORAGE: place.url,
      WEBHOOK_ETAG_CHECK_ENABLED: String(etagCheck),
    });
    service = await runService(config, { db, storage: place.storage });
    return `${etagCheck ? '' : ', WEBHOOK_ETAG_CHECK_ENABLED=false'}${watch ? ', watching the folder' : ''}`;
  };
  const snapshot = async (): Promise<{ rows: RowSeen[]; records: RecordSeen[] }> => {
    const rows: RowSeen[] = [];
    for (const kind of kinds) {
      const { rows: found } = await db.query<{ id: number; name: string; file_uri: string | null; role: string | null }>(
        `SELECT id, name, file_uri, role FROM ${kind}_members ORDER BY name`,
      );
      rows.push(...found.map((row) => ({ kind, ...row })));
    }
    const { rows: records } = await db.query<RecordSeen>(
      `SELECT file_uri, status, COALESCE((SELECT array_agg(e->>'code') FROM jsonb_array_elements(errors) e), '{}') AS codes FROM member_files ORDER BY file_uri`,
    );
    return { rows, records };
  };

  try {
    // A few members to begin with, registered by the first reconcile.
    for (const kind of kinds) for (const key of keysOf[kind].slice(0, 3)) await put(key, { kind, valid: true, name: pick(names), role: '' }, false);
    trace.push(`# service started${await start()}`);
    await settle();

    for (let step = 1; step <= options.steps; step++) {
      const operation = await changeStorage(step);
      trace.push(`#${step} ${operation}`);
      await deliverSome();
      if (random() < chance.reconcile) {
        counts.reconciles++;
        trace.push('  reconcile (periodic)');
        track(
          service!.context.reconciler!.run('interval').then(
            (report) => void trace.push(`  reconciled: ${summary(report)}`),
            (error: unknown) => {
              if (place.mayFail) counts.outages++;
              else violations.push(`a reconcile failed: ${(error as Error).message}`);
            },
          ),
        );
      }
      if (random() < chance.restart) {
        counts.restarts++;
        while (inFlight.size > 0) await Promise.all([...inFlight]);
        await service!.close();
        const how = await start();
        trace.push(`  service restarted (its start-up reconcile runs beside the next events)${how}`);
      }
      if (random() < chance.anchor) {
        counts.anchors++;
        await settle();
        const { rows } = await snapshot();
        trace.push(`  quiet; rows: ${rows.map((r) => `${r.kind[0]}:${r.name}=${r.file_uri}`).join(' ')}`);
        for (const violation of model.anchor(rows)) violations.push(`after step ${step}: ${violation}`);
      }
      if (step % checkEvery === 0 && step < options.steps) await converge(`step ${step}`);
      if (step % 100 === 0) options.onProgress?.(step);
      if (violations.length > 0) break;
    }

    if (violations.length === 0) await converge('end');
    return { violations, trace, counts };
  } finally {
    await Promise.allSettled([...inFlight]);
    await service?.close().catch(() => {});
    await db.close();
    await place.close();
  }

  /**
   * Every event held back arrives, in any order, then one reconcile where some were dropped
   * since the last time: the database must be what the model gives, and a full sync must find
   * nothing left to do. The run goes on from there.
   */
  async function converge(when: string) {
    trace.push(`# ${when}: every event held back is delivered`);
    while (held.length > 0) {
      const last = shuffle(held);
      held = [];
      await Promise.all(deliver(last).map((send) => send()));
      await settle();
    }
    // A name handed over after an outage may not have been (the hand-over read failed): healed by the reconcile too.
    if (counts.dropped > healed.dropped || counts.outages > healed.outages) {
      trace.push('# reconcile (events were dropped, or storage failed)');
      trace.push(`  reconciled: ${summary(await reconcile('final'))}`);
      await service!.context.registrar.idle();
    }
    const now = await snapshot();
    trace.push(`# rows: ${now.rows.map((r) => `${r.kind[0]}:${r.name}=${r.file_uri}`).join(' ')}`);
    trace.push(`# records: ${now.records.map((r) => `${r.file_uri}=${r.status}${r.codes.length ? `(${r.codes.join(',')})` : ''}`).join(' ')}`);
    violations.push(...model.check(now.rows, now.records).map((violation) => `${when}: ${violation}`));
    if (violations.length > 0) return;
    // Converged means a fixed point: a full sync finds nothing left to do.
    const again = await reconcile('check');
    trace.push(`# reconcile once more: ${summary(again)}`);
    if (again.created + again.updated + again.deleted > 0) violations.push(`${when}: a reconcile after convergence still changed something: ${summary(again)}`);
    healed.dropped = counts.dropped;
    healed.outages = counts.outages;
    // Quiet, and just checked: every holder now is one the rules protect from here on.
    model.anchor(now.rows);
  }

  /** A full sync now; again while a storage that fails by itself (s3rver) fails. */
  async function reconcile(trigger: string) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await service!.context.reconciler!.run(trigger);
      } catch (error) {
        if (!place.mayFail || attempt === 5) throw error;
        counts.outages++;
      }
    }
  }

  /** One random change to storage; answers what it was, for the trace. */
  async function changeStorage(step: number): Promise<string> {
    const kind = pick(kinds);
    const present = keysOf[kind].filter((key) => model.storage.has(key));
    const absent = keysOf[kind].filter((key) => !model.storage.has(key));
    const total = model.storage.size;
    const state = (): FileState => (random() < chance.invalid ? { kind, valid: false } : { kind, valid: true, name: pick(names), role: '' });
    const named = (_key: string, name: string): FileState => ({ kind, valid: true, name, role: '' });
    const nameOf = (key: string) => {
      const file = model.storage.get(key)!;
      return file.valid ? file.name : pick(names);
    };
    const roll = random();
    if (present.length === 0 || (roll < 0.2 && absent.length > 0)) {
      const key = pick(absent);
      await put(key, state());
      return `put a new file ${key}`;
    }
    if (roll < 0.35) {
      const key = pick(present);
      const file = model.storage.get(key)!;
      await put(key, file.valid ? named(key, file.name) : state());
      return `edit ${key}${file.valid ? ' (same name)' : ''}`;
    }
    if (roll < 0.5) {
      const key = pick(present);
      await put(key, named(key, pick(names)));
      return `rename the member of ${key}`;
    }
    if (roll < 0.58) {
      const key = pick(present);
      await put(key, { kind, valid: false });
      return `make ${key} invalid`;
    }
    if (roll < 0.66 && absent.length > 0) {
      const from = pick(present);
      const to = pick(absent);
      await move(from, to);
      return `move ${from} to ${to}`;
    }
    if (roll < 0.76 && total > 1) {
      const key = pick(present);
      await remove(key);
      return `delete ${key}`;
    }
    if (roll < 0.88 && present.length >= 2) {
      const [a, b] = shuffle([...present]).slice(0, 2) as [string, string];
      const [nameA, nameB] = [nameOf(a), nameOf(b)];
      const writes = shuffle([() => put(a, named(a, nameB)), () => put(b, named(b, nameA))]);
      for (const write of writes) await write();
      return `swap the names of ${a} and ${b}`;
    }
    if (present.length >= 2) {
      // A chain: each file takes the name of the next; the last takes a name of the pool (maybe the first's: a cycle).
      const chain = shuffle([...present]).slice(0, 2 + Math.floor(random() * (present.length - 1)));
      const taken = chain.map((_key, i) => (i + 1 < chain.length ? nameOf(chain[i + 1]!) : pick(names)));
      const writes = shuffle(chain.map((key, i) => () => put(key, named(key, taken[i]!))));
      for (const write of writes) await write();
      return `chain the names along ${chain.join(' ← ')}`;
    }
    const key = pick(present);
    await put(key, state());
    return `rewrite ${key} (step ${step})`;
  }
}

/** A member file's text; a new role each time, so every write changes the content. */
function render(state: FileState, serial: number, random: () => number): string {
  if (!state.valid) {
    const invalid =
      state.kind === 'human'
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

/** Where the member files live, and how the test changes them (as people and tools do). */
interface Place {
  /** VECR_STORAGE for it. */
  url: string;
  /** What event keys carry before the member path. */
  prefix: string;
  storage: Storage;
  /** Whether the service can watch it (VECR_WATCH). */
  watchable: boolean;
  /**
   * Whether it fails now and then by itself: s3rver writes an object in place, and a read of it
   * meanwhile stalls for 6 s and aborts (a 503, the event sent again). S3 and MinIO replace
   * objects whole.
   */
  mayFail: boolean;
  put(key: string, content: string): Promise<void>;
  remove(key: string): Promise<void>;
  /** Moves a file; answers its content. */
  move(from: string, to: string): Promise<string>;
  close(): Promise<void>;
}

/** A folder, changed with the file system's own calls: a write replaces the file whole (written beside it, renamed over it). */
async function folderPlace(): Promise<Place> {
  const folder = await tempDir('vecr-convergence-');
  const at = (key: string) => path.join(folder.dir, key);
  return {
    url: folder.dir,
    prefix: '',
    storage: folderStorage(folder.dir),
    watchable: true,
    mayFail: false,
    async put(key, content) {
      fs.mkdirSync(path.dirname(at(key)), { recursive: true });
      fs.writeFileSync(`${at(key)}.tmp`, content);
      fs.renameSync(`${at(key)}.tmp`, at(key));
    },
    async remove(key) {
      fs.rmSync(at(key));
    },
    async move(from, to) {
      fs.mkdirSync(path.dirname(at(to)), { recursive: true });
      fs.renameSync(at(from), at(to));
      return fs.readFileSync(at(to), 'utf8');
    },
    close: folder.remove,
  };
}

/** A bucket on s3rver, below a prefix (event keys carry it, member paths do not). */
async function bucketPlace(): Promise<Place> {
  const prefix = 'garage';
  const s3 = await startS3({ prefix });
  const { storage } = s3;
  return {
    url: `s3://${s3.config.bucket}/${prefix}`,
    prefix: `${prefix}/`,
    storage,
    watchable: false,
    mayFail: true,
    put: (key, content) => storage.write(key, content),
    remove: (key) => storage.delete(key),
    async move(from, to) {
      const { bytes } = await storage.read(from, 1 << 20);
      await storage.write(to, bytes);
      await storage.delete(from);
      return Buffer.from(bytes).toString('utf8');
    },
    close: () => s3.close(),
  };
}
