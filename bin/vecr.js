#!/usr/bin/env node
// Checked before anything is loaded: on an older Node.js the program would fail on the first
// feature it lacks, with a message that does not say why. (Plain syntax: it must parse there.)
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`vecr needs Node.js 22 or newer (this is ${process.versions.node}); see README\n`);
  process.exitCode = 1;
} else {
  // Each command is a short process that mostly loads modules: Node keeps their compiled code
  // between runs (docs/benchmarks.md), in the user's own cache folder, so that nobody else can
  // change it and a command run as another user (root) leaves nothing in the installation.
  // NODE_COMPILE_CACHE (another folder) and NODE_DISABLE_COMPILE_CACHE=1 are Node's own settings
  // and win. A folder it cannot write costs nothing; a Node.js without the cache (before 22.1)
  // starts as it would.
  const [{ enableCompileCache }, os, path] = await Promise.all([import('node:module'), import('node:os'), import('node:path')]);
  const cacheHome = path.isAbsolute(process.env.XDG_CACHE_HOME ?? '') ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  if (!process.env.NODE_COMPILE_CACHE) enableCompileCache?.(path.join(cacheHome, 'vecr', 'compile'));
  // The program is bundled (scripts/bundle.mjs): a stack trace asked for names the sources.
  if (process.env.VECR_DEBUG) process.setSourceMapsEnabled(true);
  await import('../dist/cli/main.js');
}
