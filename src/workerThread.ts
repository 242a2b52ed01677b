import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread on a module beside the caller: `name` without extension, resolved
 * against `from` (the caller's import.meta.url). Built code runs the `.js` module; from the
 * TypeScript sources (tests) the worker first registers the same loader and imports the `.ts`.
 */
export function startWorker(from: string, name: string, workerData?: unknown): Worker {
  const fromSources = from.endsWith('.ts');
  const script = new URL(`./${name}${fromSources ? '.ts' : '.js'}`, from);
  return fromSources
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(script.href)}); })`, { eval: true, workerData })
    : new Worker(script, { workerData });
}
