import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ParseLimits, ParseResult } from '../members/parse.js';
import parseFiles, { type ParseTask } from './parseWorker.js';

export type ParseInput = ParseTask['files'];

export interface FileParser {
  parse(files: ParseInput): Promise<ParseResult[]>;
  close(): Promise<void>;
}

/** Parses on the calling thread: right for a handful of files. */
export function inlineParser(limits: ParseLimits): FileParser {
  return { parse: async (files) => parseFiles({ limits, files }), close: async () => {} };
}

/** Spreads parsing over worker threads, one per core, each taking a slice of every batch. */
export function workerParser(limits: ParseLimits, threads = os.availableParallelism()): FileParser {
  const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './parseWorker.ts' : './parseWorker.js', import.meta.url);
  const pool = new Piscina({
    filename: fileURLToPath(workerUrl),
    minThreads: threads,
    maxThreads: threads,
    // Running from TypeScript sources (tests, benchmarks): the worker needs the same loader.
    ...(workerUrl.pathname.endsWith('.ts') ? { execArgv: [...process.execArgv, '--import', 'tsx'] } : {}),
  });
  return {
    async parse(files) {
      const size = Math.ceil(files.length / threads);
      const slices = Array.from({ length: threads }, (_, i) => files.slice(i * size, (i + 1) * size)).filter((s) => s.length > 0);
      const results = await Promise.all(slices.map((slice) => pool.run({ limits, files: slice } satisfies ParseTask) as Promise<ParseResult[]>));
      return results.flat();
    },
    close: () => pool.destroy(),
  };
}
