import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMemberFile } from '../../src/members/parse.js';
import { memberKindOf } from '../../src/members/paths.js';
import { atomicObjects } from '../helpers/atomicS3.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { tempDir } from '../helpers/files.js';
import { startS3, type TestS3, testBucket } from '../helpers/s3.js';
import { type ServeProcess, spawnServe } from '../helpers/serveProcess.js';
import { eventually } from '../helpers/service.js';

/**
 * Two `vecr serve` processes on one PostgreSQL database and one bucket, as replicas behind a
 * load balancer are: storage changes (creates, edits, deletes, renames of members, name swaps,
 * names given up and taken, files moved to other keys, files that never validate), their S3
 * events sent to either replica — shuffled, some twice, some to both at once — while both run
 * their periodic reconcile every second. Every answer is 200; neither replica nor the server logs
 * an error (no unique violation, no deadlock); after the traffic and a reconcile, the database
 * equals the bucket. The same when one replica is killed midway (what it never answered is
 * delivered again to the other) and a new one takes its place. And two files claiming one free
 * name at the same moment, one event at each replica: one gets the name, the other is refused,
 * and no unique violation reaches the server (the registry lock at work: without it, this is
 * where unique violations show).
 *
 * The history is random, from a seed printed with any failure; REPLICAS_SEED=N replays it (the
 * changes to the bucket exactly; their delivery, which also hangs on timing, approximately).
 */

const token = 'replicas-webhook-token';
const seed = Number(process.env.REPLICAS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const context = `seed ${seed} (REPLICAS_SEED=${seed} replays this history)`;

/** mulberry32: a small seeded generator, so that a failing history can be replayed. */
function generator(state: number) {
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    chance: (p: number) => next() < p,
    below: (n: number) => Math.floor(next() * n),
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)]!;
    },
  };
}
type Random = ReturnType<typeof generator>;

/** One S3 event notification, as a relay posts it (AWS spelling, sequencer and ETag as S3 sends them). */
interface S3Event {
  eventName: 'ObjectCreated:Put' | 'ObjectRemoved:Delete';
  key: string;
  sequencer: string;
  eTag?: string;
}

/** One notification for a few events: S3 sends one record per notification, MinIO may send more. */
const notification = (events: readonly S3Event[]) => ({
  Records: events.map((event) => ({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventName: event.eventName,
    s3: {
      bucket: { name: testBucket },
      object: { key: encodeURIComponent(event.key).replace(/%2F/g, '/'), sequencer: event.sequencer, ...(event.eTag ? { eTag: event.eTag } : {}) },
    },
  })),
});

/**
 * The bucket as the test changes it, with the events S3 would send: a sequencer per change that
 * grows for each key (S3's are hex and only comparable per key; one counter for all keeps that).
 */
class Bucket {
  /** Member files by key: the name of a valid one, or null for one that never validates. */
  readonly files = new Map<string, { kind: 'human' | 'virtual'; name: string | null }>();
  readonly events: S3Event[] = [];
  private sequence = 0x5f3a_0000_0000;
  private names = 0;
  private keys = 0;

  constructor(
    private readonly s3: TestS3,
    private readonly random: Random,
  ) {}

  freshName(kind: 'human' | 'virtual') {
    return `${kind === 'human' ? 'Person' : 'Bot'} ${++this.names}`;
  }

  freshKey(kind: 'human' | 'virtual') {
    return `${kind}_members/${kind[0]}${++this.keys}.yml`;
  }

  /** A valid member file; `role` varies so that an edit changes the row. */
  content(kind: 'human' | 'virtual', name: string) {
    const role = `Role ${this.random.below(1000)}`;
    return kind === 'human' ? `name: ${name}\nrole: ${role}\nskills: [TypeScript]\n` : `name: ${name}\nrole: ${role}\nllm_model: claude-sonnet-4-5\n`;
  }

  async put(key: string, name: string | null) {
    const kind = memberKindOf(key)!;
    // A file that never validates: a field no member has.
    const text = name === null ? `nmae: Nobody ${key}\n` : this.content(kind, name);
    await this.s3.storage.write(key, text);
    this.files.set(key, { kind, name });
    this.events.push({ eventName: 'ObjectCreated:Put', key, sequencer: this.nextSequencer(), eTag: createHash('md5').update(text).digest('hex') });
  }

  async remove(key: string) {
    await this.s3.storage.delete(key);
    this.files.delete(key);
    this.events.push({ eventName: 'ObjectRemoved:Delete', key, sequencer: this.nextSequencer() });
  }

  valid(kind?: 'human' | 'virtual') {
    return [...this.files].filter(([, f]) => f.name !== null && (!kind || f.kind === kind)).map(([key, f]) => ({ key, kind: f.kind, name: f.name! }));
  }

  /** One random change; each keeps names unique among the valid files of a kind once it is done. */
  async change() {
    const kind = this.random.chance(0.5) ? 'human' : 'virtual';
    const valid = this.valid(kind);
    const roll = this.random.below(100);
    if (valid.length < 6 || roll < 20) return this.put(this.freshKey(kind), this.freshName(kind));
    const one = this.random.pick(valid);
    const other = this.random.pick(valid.filter((f) => f.key !== one.key));
    if (roll < 36) return this.put(one.key, one.name); // an edit
    if (roll < 46) return this.remove(one.key);
    if (roll < 56) return this.put(one.key, this.freshName(kind)); // the member renamed
    if (roll < 66) {
      // Two members swap names, as two edits: after the first, both files claim one name.
      await this.put(one.key, other.name);
      return this.put(other.key, one.name);
    }
    if (roll < 76) {
      // A file moved (copy, then delete): until the delete, two files claim the name.
      await this.put(this.freshKey(kind), one.name);
      return this.remove(one.key);
    }
    if (roll < 86) {
      // A member renamed, and its name taken by another file, a new one or one renamed in turn:
      // an event read before the rename, and the other's, claim one name.
      await this.put(one.key, this.freshName(kind));
      return this.put(this.random.chance(0.5) ? this.freshKey(kind) : other.key, one.name);
    }
    if (roll < 91) {
      // Deleted and put back, with new content.
      await this.remove(one.key);
      return this.put(one.key, one.name);
    }
    return this.put(this.freshKey(kind), null);
  }

  private nextSequencer() {
    return (this.sequence += 1 + this.random.below(16)).toString(16).toUpperCase().padStart(16, '0');
  }
}

interface WebhookAnswer {
  records: Array<{ outcome: string; name?: string; reason?: string; errors?: Array<{ code: string }> }>;
}

/** One notification posted to a replica's webhook; rejects when no answer comes (the replica died). */
async function deliver(replica: ServeProcess, events: readonly S3Event[]): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${replica.url}/webhook/storage`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(notification(events)),
  });
  return { status: response.status, body: await response.json() };
}

interface Delivery {
  /** The replica's URL. */
  to: string;
  events: readonly S3Event[];
  status: number;
  body: unknown;
}

/** The member rows, both tables, as `file_uri → name (role)`. */
async function rowsIn(cluster: TestCluster, database: string): Promise<Record<string, string>> {
  const rows = await cluster.query<{ file_uri: string; name: string; role: string | null }>(
    'SELECT file_uri, name, role FROM human_members UNION ALL SELECT file_uri, name, role FROM virtual_members',
    [],
    database,
  );
  return Object.fromEntries(rows.map((row) => [row.file_uri, `${row.name} (${row.role})`]));
}

/** What the bucket holds, read back from it: its valid member files as rows would show them, and which files are invalid. */
async function bucketContents(s3: TestS3) {
  const valid: Record<string, string> = {};
  const invalid: string[] = [];
  for await (const page of s3.storage.list()) {
    for (const { key } of page) {
      const kind = memberKindOf(key);
      if (!kind) continue;
      const parsed = parseMemberFile(key, kind, (await s3.storage.read(key, 1 << 20)).bytes);
      if (parsed.ok) valid[key] = `${parsed.value.member.name} (${parsed.value.member.role ?? null})`;
      else invalid.push(key);
    }
  }
  return { valid, invalid };
}

/** The JSON log lines of a replica, parsed. */
function logLines(replica: ServeProcess): Array<Record<string, unknown> & { level: number; msg: string; time: number }> {
  return replica
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

/** What the senders saw: every answer, and the requests that got none. */
interface Traffic {
  deliveries: Delivery[];
  failures: string[];
  start: number;
  end: number;
}

describe('vecr serve replicas on one database', () => {
  let cluster: TestCluster;
  let work: Awaited<ReturnType<typeof tempDir>>;
  const started: ServeProcess[] = [];
  const buckets: TestS3[] = [];
  let databases = 0;

  beforeAll(async () => {
    [cluster, work] = await Promise.all([startCluster(), tempDir()]);
  });
  afterAll(async () => {
    await Promise.all(started.map((replica) => replica.kill()));
    await Promise.all(buckets.map((s3) => s3.close()));
    await cluster?.destroy();
    await work?.remove();
  });

  /**
   * A bucket of its own with 40 members, a database of its own, and two replicas on them,
   * started together on the empty database: both migrate it, both sync it at once; then each
   * reconciles every second, or only at start with `reconcileEvery: '0'`.
   */
  async function setUp({ reconcileEvery = '1s' } = {}) {
    const s3 = await startS3();
    buckets.push(s3);
    // Objects written whole, as S3 writes them, while the replicas read them.
    atomicObjects(s3.server);
    // The history of the bucket replays from the seed; its delivery depends on timing too.
    const bucket = new Bucket(s3, generator(seed));
    for (let i = 0; i < 40; i++) await bucket.put(bucket.freshKey(i % 2 ? 'human' : 'virtual'), bucket.freshName(i % 2 ? 'human' : 'virtual'));
    bucket.events.length = 0;
    const database = `replicas_${++databases}`;
    const url = await cluster.createDatabase(database);
    const startReplica = async (name: string) => {
      const replica = await spawnServe({
        DATABASE_URL: url,
        VECR_STORAGE: `s3://${testBucket}`,
        S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        // Each its own data folder: its own embedded chat log store (not under test here).
        VECR_DATA_DIR: path.join(work.dir, database, name),
        VECR_RECONCILE_INTERVAL: reconcileEvery,
        WEBHOOK_AUTH_TOKEN: token,
      });
      started.push(replica);
      return replica;
    };
    const replicas = await Promise.all(['a', 'b'].map(startReplica));
    return { s3, bucket, database, replicas, startReplica, random: generator(seed + 1) };
  }
  type Setup = Awaited<ReturnType<typeof setUp>>;

  /**
   * Storage changes, their events queued as they happen; senders take queued events in random
   * order (reordered), to a random replica, some twice (duplicated), some to both replicas at
   * once (the same event in two transactions that race), a few together in one notification.
   * `down` replicas get nothing new; a request that got no answer from one is
   * delivered again to a replica that is up, as MinIO's queue does.
   */
  async function drive(
    { bucket, replicas, random }: Setup,
    options: { steps: number; onStep?: (step: number) => Promise<void>; down?: Set<number> },
  ): Promise<Traffic> {
    const down = options.down ?? new Set<number>();
    const up = (replica: number) => (down.has(replica) ? replicas.findIndex((_, i) => !down.has(i)) : replica);
    const traffic: Traffic = { deliveries: [], failures: [], start: Date.now(), end: 0 };
    const queue: Array<{ event: S3Event; replica: number }> = [];
    let changing = true;
    const send = async (events: readonly S3Event[], replica: number) => {
      const to = replicas[replica]!;
      try {
        traffic.deliveries.push({ to: to.url, events, ...(await deliver(to, events)) });
      } catch (error) {
        traffic.failures.push(`replica ${replica}: ${(error as Error).message} (${(error as Error).cause ?? ''})`);
        for (const event of events) queue.push({ event, replica: up(replica) });
      }
    };
    const sender = async () => {
      while (changing || queue.length > 0) {
        if (queue.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        const { event, replica } = queue.splice(random.below(queue.length), 1)[0]!;
        const events = [event, ...(random.chance(0.1) ? queue.splice(random.below(queue.length), 1 + random.below(3)).map((queued) => queued.event) : [])];
        if (random.chance(0.15)) queue.push({ event, replica: random.below(2) });
        if (random.chance(0.1) && down.size === 0) await Promise.all([send(events, 0), send(events, 1)]);
        else await send(events, up(replica));
      }
    };
    const senders = Array.from({ length: 6 }, sender);
    let sent = 0;
    for (let step = 0; step < options.steps; step++) {
      await bucket.change();
      for (const event of bucket.events.slice(sent)) queue.push({ event, replica: random.below(2) });
      sent = bucket.events.length;
      await options.onStep?.(step);
      // Changes come a little faster than they are delivered, so that the queue reorders.
      if (step % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    changing = false;
    await Promise.all(senders);
    traffic.end = Date.now();
    return traffic;
  }

  /** Every answer 200, every event answered at least once, some more than once. */
  function expectAllAnswered({ bucket }: Setup, { deliveries }: Traffic) {
    const statuses = new Set(deliveries.map((d) => d.status));
    expect({ statuses: [...statuses], not200: deliveries.filter((d) => d.status !== 200).slice(0, 5) }, context).toEqual({ statuses: [200], not200: [] });
    const delivered = deliveries.flatMap((d) => d.events);
    expect(new Set(delivered).size, context).toBe(bucket.events.length);
    expect(delivered.length, context).toBeGreaterThan(bucket.events.length);
  }

  /**
   * After the traffic and a reconcile that started after it (by either replica), the database
   * equals the bucket, the sync's records agree, every replica answers the same members, and
   * none of them, nor the server, logged an error (a unique violation, a deadlock, a failed
   * reconcile or hand-over).
   */
  async function expectBucketInDatabase({ s3, bucket, database }: Setup, replicas: ServeProcess[]) {
    const trafficEnded = (await cluster.query<{ now: string }>('SELECT now()::text AS now', [], database))[0]!.now;
    await eventually(
      async () => expect(await cluster.query('SELECT 1 FROM sync_runs WHERE started_at > $1::timestamptz', [trafficEnded], database)).not.toEqual([]),
      20_000,
    );

    const expected = await bucketContents(s3);
    expect(Object.keys(expected.valid).length, context).toBe(bucket.valid().length);
    expect(await rowsIn(cluster, database), context).toEqual(expected.valid);
    const records = await cluster.query<{ file_uri: string; status: string }>('SELECT file_uri, status FROM member_files', [], database);
    const recorded = (status: string) =>
      records
        .filter((r) => r.status === status)
        .map((r) => r.file_uri)
        .sort();
    expect(recorded('invalid'), context).toEqual(expected.invalid.sort());
    expect(recorded('registered'), context).toEqual(Object.keys(expected.valid).sort());
    for (const replica of replicas) {
      for (const kind of ['human', 'virtual'] as const) {
        const listed = (await (await fetch(`${replica.url}/api/members/${kind}?limit=500`)).json()) as { members: Array<{ name: string }> };
        const names = Object.entries(expected.valid)
          .filter(([key]) => memberKindOf(key) === kind)
          .map(([, row]) => row.replace(/ \(.*\)$/, ''));
        expect(listed.members.map((m) => m.name).sort(), context).toEqual(names.sort());
      }
      expect(replica.alive()).toBe(true);
      expect(
        logLines(replica).filter((line) => line.level >= 50),
        context,
      ).toEqual([]);
    }
    expect(
      (await cluster.log()).split('\n').filter((line) => /ERROR|FATAL|PANIC/.test(line)),
      context,
    ).toEqual([]);
  }

  it('take interleaved, duplicated and reordered events while both reconcile: only 200, no unique violation, the database equals the bucket', async () => {
    const setup = await setUp();
    const traffic = await drive(setup, { steps: 320 });
    expect(traffic.failures, context).toEqual([]);
    expectAllAnswered(setup, traffic);
    // The answers show what the traffic went through: repeats, events overtaken by newer ones,
    // names refused while two files claimed them.
    const outcomes = new Set(
      traffic.deliveries.flatMap((d) =>
        (d.body as WebhookAnswer).records.map((r) => {
          const why = r.reason ?? r.errors?.[0]?.code;
          return why ? `${r.outcome}: ${why}` : r.outcome;
        }),
      ),
    );
    expect([...outcomes].sort(), context).toEqual(
      expect.arrayContaining([
        'created',
        'updated',
        'deleted',
        'invalid: name_conflict',
        'unchanged: this event was already applied',
        'ignored: a newer event for this file was already applied',
        'ignored: superseded by a newer event for the same file',
      ]),
    );
    // Both replicas reconciled while the events came in.
    for (const replica of setup.replicas) {
      const during = logLines(replica).filter(
        (line) => line.msg === 'reconciled with storage' && line.trigger === 'interval' && line.time > traffic.start && line.time < traffic.end,
      );
      expect(during.length, context).toBeGreaterThan(0);
    }
    await expectBucketInDatabase(setup, setup.replicas);
  }, 180_000);

  it('take claims to one free name from two files at the same moment, one at each replica: one file gets it, the other is refused, no unique violation', async () => {
    // No reconcile after the one at start: the events alone register the files, racing.
    const setup = await setUp({ reconcileEvery: '0' });
    const { bucket, database, replicas } = setup;
    await eventually(async () => expect(await cluster.query("SELECT 1 FROM sync_runs WHERE trigger = 'start'", [], database)).toHaveLength(2));
    // Two new files a pair, both naming one new member; each event at its own replica, all at once.
    const pairs = Array.from({ length: 50 }, (_, i) => ({ name: `Claimed ${i}`, keys: [`human_members/claim${i}a.yml`, `human_members/claim${i}b.yml`] }));
    for (const { name, keys } of pairs) for (const key of keys) await bucket.put(key, name);
    const events = new Map(bucket.events.map((event) => [event.key, event]));
    const answers = await Promise.all(pairs.map(({ keys }) => Promise.all(keys.map((key, i) => deliver(replicas[i]!, [events.get(key)!])))));

    for (const [i, pair] of answers.entries()) {
      expect(
        pair.map((answer) => answer.status),
        context,
      ).toEqual([200, 200]);
      const outcomes = pair.map((answer) => (answer.body as WebhookAnswer).records[0]!);
      expect(outcomes.map((o) => o.outcome).sort(), `${context}: ${JSON.stringify(outcomes)}`).toEqual(['created', 'invalid']);
      expect(outcomes.find((o) => o.outcome === 'invalid')!.errors![0]!.code).toBe('name_conflict');
      expect(outcomes.every((o) => o.name === pairs[i]!.name)).toBe(true);
    }
    // In the database alike: one row a name, held by the file that got it; the other file refused.
    const rows = await cluster.query<{ file_uri: string; name: string }>("SELECT file_uri, name FROM human_members WHERE name LIKE 'Claimed %'", [], database);
    const holders = new Map(rows.map((row) => [row.name, row.file_uri]));
    expect(rows.length).toBe(pairs.length);
    const refused = await cluster.query<{ file_uri: string }>(
      "SELECT file_uri FROM member_files WHERE status = 'invalid' AND member_name LIKE 'Claimed %'",
      [],
      database,
    );
    expect(refused.map((r) => r.file_uri).sort()).toEqual(pairs.map(({ name, keys }) => keys.find((key) => key !== holders.get(name))!).sort());
    for (const replica of replicas)
      expect(
        logLines(replica).filter((line) => line.level >= 50),
        context,
      ).toEqual([]);
    expect(
      (await cluster.log()).split('\n').filter((line) => /ERROR|FATAL|PANIC/.test(line)),
      context,
    ).toEqual([]);
  }, 180_000);

  it('lose one replica mid-traffic (SIGKILL) and get a new one: what it never answered goes to the other, and the database equals the bucket', async () => {
    const setup = await setUp();
    const { replicas } = setup;
    const killed = replicas[1]!;
    const down = new Set<number>();
    const traffic = await drive(setup, {
      steps: 240,
      down,
      async onStep(step) {
        if (step === 80) {
          down.add(1);
          await killed.kill();
        }
        if (step === 160) {
          replicas[1] = await setup.startReplica('c');
          down.delete(1);
        }
      },
    });
    // Requests in flight to the killed replica got no answer (and were delivered again); no other did.
    expect(
      traffic.failures.filter((failure) => !failure.startsWith('replica 1:')),
      context,
    ).toEqual([]);
    expectAllAnswered(setup, traffic);
    // All three took events.
    for (const replica of [killed, ...replicas]) expect(traffic.deliveries.some((d) => d.to === replica.url)).toBe(true);
    expect(
      logLines(killed).filter((line) => line.level >= 50),
      context,
    ).toEqual([]);
    await expectBucketInDatabase(setup, replicas);
  }, 180_000);
});
