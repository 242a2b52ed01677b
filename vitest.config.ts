import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // As src/db/pglite.ts sets it, before anything compiles WebAssembly (see there why).
    execArgv: ['--no-wasm-code-gc'],
    maxWorkers: 2,
  },
});
