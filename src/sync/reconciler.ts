import type { Db } from '../db/types.js';
import type { Storage } from '../storage/types.js';
import { type SyncOptions, type SyncReport, syncStorage } from './reconcile.js';

export interface ReconcilerOptions extends Omit<SyncOptions, 'trigger' | 'dryRun' | 'signal'> {
  /** Time between runs; 0 runs only when asked. */
  intervalMs: number;
  onReport?: (report: SyncReport, trigger: string) => void;
  onError?: (error: unknown, trigger: string) => void;
}

/**
 * Runs the full sync on start and then every so often, so that events that never arrived are
 * healed. One run at a time: asking while one runs joins it.
 */
export class Reconciler {
  private running: Promise<SyncReport> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  /** Why the last run failed, until one succeeds. */
  lastError: unknown;
  /** How far the run under way has come: files handled, of files listed so far. */
  progress: { done: number; listed: number } | undefined;

  constructor(
    private readonly db: Db,
    private readonly storage: Storage,
    readonly options: ReconcilerOptions,
  ) {}

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  start(): void {
    void this.run('start').catch(() => {});
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(() => void this.run('interval').catch(() => {}), this.options.intervalMs);
      this.timer.unref();
    }
  }

  run(trigger: string): Promise<SyncReport> {
    if (this.stopping.signal.aborted) return Promise.reject(new Error('the service is stopping'));
    const onProgress = (done: number, listed: number) => {
      this.progress = { done, listed };
      this.options.onProgress?.(done, listed);
    };
    this.running ??= syncStorage(this.db, this.storage, { ...this.options, trigger, onProgress, signal: this.stopping.signal })
      .then(
        (report) => {
          this.lastError = undefined;
          this.options.onReport?.(report, trigger);
          return report;
        },
        (error: unknown) => {
          if (!this.stopping.signal.aborted) {
            this.lastError = error;
            this.options.onError?.(error, trigger);
          }
          throw error;
        },
      )
      .finally(() => {
        this.running = undefined;
        this.progress = undefined;
      });
    return this.running;
  }

  /** Stops the timer, and a run in progress at its next batch (what it wrote stays written). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.running?.catch(() => {});
  }
}
