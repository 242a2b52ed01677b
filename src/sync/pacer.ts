import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/**
 * Gives the event loop a turn every `everyMs` of synchronous work shared by several concurrent
 * workers: each calls the returned function before a unit of work and awaits what it returns.
 * Once the interval has passed, every caller gets the same turn until it has been taken, so all
 * workers stop together. (A turn for one worker alone is no turn: the others would go on through
 * microtasks, and a query answer, an HTTP request or a batch being written would keep waiting.)
 */
export function pacer(everyMs: number, now: () => number = () => performance.now()): () => Promise<void> | undefined {
  let since = now();
  let turn: Promise<void> | undefined;
  return () => {
    if (turn || now() - since < everyMs) return turn;
    turn = yieldToEventLoop().then(() => {
      since = now();
      turn = undefined;
    });
    return turn;
  };
}
