#!/usr/bin/env node
// Checked before anything is loaded: on an older Node.js the program would fail on the first
// feature it lacks, with a message that does not say why. (Plain syntax: it must parse there.)
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`vecr needs Node.js 22 or newer (this is ${process.versions.node}); see README\n`);
  process.exitCode = 1;
} else {
  // Each command is a short process that mostly loads modules: Node keeps their compiled code
  // between runs (docs/benchmarks.md). In this installation's node_modules/.cache, so only
  // whoever can change its code can change its cache; NODE_COMPILE_CACHE (another folder) and
  // NODE_DISABLE_COMPILE_CACHE=1 are Node's own settings and win. A folder it cannot write costs
  // nothing; a Node.js without the cache (before 22.1) starts as it would.
  const [{ enableCompileCache }, { fileURLToPath }] = await Promise.all([import('node:module'), import('node:url')]);
  if (!process.env.NODE_COMPILE_CACHE) enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/vecr-compile/', import.meta.url)));
  // The program is bundled (scripts/bundle.mjs): a stack trace asked for names the sources.
  if (process.env.VECR_DEBUG) process.setSourceMapsEnabled(true);
  await import('../dist/cli/main.js');
}
