/**
 * Group commit for message items: the items of concurrent appends go out together, up to 25 in
 * one BatchWriteItem, one request out at a time. While a request is out, the next batch fills up;
 * a lone append goes out at once (two or four requests out at a time measured slower here). Only
 * items whose keys nobody else can write come here (see lanes.ts): a batch write has no conditions.
 */
export class BatchWriter {
  private queue: Array<{ item: Record<string, unknown>; done: (error?: unknown) => void }> = [];
  private running = false;

  constructor(
    /** Writes the items; answers those the store left unprocessed. */
    private readonly send: (items: Array<Record<string, unknown>>) => Promise<Array<Record<string, unknown>>>,
  ) {}

  write(item: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.running) void this.run();
    });
  }

  private async run() {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 25);
      try {
        await this.writeAll(batch.map((entry) => entry.item));
        for (const entry of batch) entry.done();
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (batch.length > 1 && (status === 400 || status === 413)) {
          // One bad item fails the request: each is tried on its own, so only it fails.
          await Promise.all(batch.map((entry) => this.writeAll([entry.item]).then(() => entry.done(), entry.done)));
        } else {
          for (const entry of batch) entry.done(error);
        }
      }
    }
    this.running = false;
  }

  private async writeAll(items: Array<Record<string, unknown>>) {
    for (let attempt = 0; items.length > 0; attempt++) {
      if (attempt > 12) throw new Error('the chat log store keeps leaving writes unprocessed; try again later');
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random() / 2)));
      items = await this.send(items);
    }
  }
}
