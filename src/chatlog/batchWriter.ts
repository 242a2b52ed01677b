import { isRefusal } from './errors.js';

type Item = Record<string, unknown>;

/**
 * Group commit for message items: the items of concurrent appends go out together, up to 25 in
 * one BatchWriteItem, one batch at a time. While a batch is out, the next one fills up; a lone
 * append goes out at once (two or four batches out at a time measured slower here). Only items
 * whose keys nobody else can write come here (see lanes.ts): a batch write has no conditions.
 */
export class BatchWriter {
  private queue: Array<{ item: Item; done: (error?: unknown) => void }> = [];
  private running = false;

  constructor(
    /** Writes the items; answers those the store left unprocessed. */
    private readonly send: (items: Item[]) => Promise<Item[]>,
  ) {}

  write(item: Item): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.running) void this.run();
    });
  }

  private async run() {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 25);
      const failed = await this.writeAll(batch.map((entry) => entry.item));
      if (batch.length > 1 && failed.size === batch.length && [...failed.values()].every(isRefusal)) {
        // The store refused the request for one of its items: each is sent on its own, so that
        // only the one at fault fails.
        for (const entry of batch) entry.done((await this.writeAll([entry.item])).get(entry.item));
        continue;
      }
      for (const entry of batch) entry.done(failed.get(entry.item));
    }
    this.running = false;
  }

  /**
   * Writes the items, retrying what the store leaves unprocessed. Answers the items not written,
   * each with its error; those the store took before a failure count as written.
   */
  private async writeAll(items: Item[]): Promise<Map<Item, unknown>> {
    // The store answers unprocessed items as copies: they are matched to ours by key.
    const byKey = new Map(items.map((item) => [keyOf(item), item]));
    let pending = items;
    try {
      const left = await untilProcessed(items, async (batch) => {
        pending = batch;
        return (await this.send(batch)).map((copy) => byKey.get(keyOf(copy)) ?? copy);
      });
      const error = new Error('the chat log store keeps leaving writes unprocessed; try again later');
      return new Map(left.map((item) => [item, error]));
    } catch (error) {
      return new Map(pending.map((item) => [item, error]));
    }
  }
}

/**
 * Sends `items`, then again what the store leaves unprocessed, backing off between tries, at
 * most 13 tries in all (about 8 s). Answers what is still unprocessed then; throws what `send` throws.
 */
export async function untilProcessed<T>(items: T[], send: (items: T[]) => Promise<T[]>): Promise<T[]> {
  let pending = items;
  for (let attempt = 0; pending.length > 0 && attempt < 13; attempt++) {
    if (attempt > 0) await backoff(attempt);
    pending = await send(pending);
  }
  return pending;
}

const keyOf = (item: Item) => `${String(item.session_id)}\u0000${String(item.timestamp)}`;

/** Waits before retry `attempt`: exponential, at most a second, with jitter. */
async function backoff(attempt: number) {
  await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random() / 2)));
}
