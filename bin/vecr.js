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
  // change it and a command run as another user (root) leaves nothing in the installation. Only
  // below a folder the user owns: with someone else's HOME (sudo -E) or none (HOME=, a service
  // user's /nonexistent), no cache rather than folders its owner cannot remove.
  // NODE_COMPILE_CACHE (another folder, also from --env-file) and NODE_DISABLE_COMPILE_CACHE=1
  // are Node's own settings and win. A folder it cannot write costs nothing; a Node.js without
  // the cache (before 22.1) starts as it would.
  const module = process.getBuiltinModule?.('node:module') ?? (await import('node:module'));
  if (module.enableCompileCache && !module.getCompileCacheDir?.()) {
    const fs = process.getBuiltinModule?.('node:fs') ?? (await import('node:fs'));
    const os = process.getBuiltinModule?.('node:os') ?? (await import('node:os'));
    const xdg = process.env.XDG_CACHE_HOME;
    const home = os.homedir();
    const cacheHome = xdg?.startsWith('/') ? xdg : home.startsWith('/') ? `${home}/.cache` : undefined;
    // A folder that cannot even be looked at (another's home, 0700) is no cache folder: no throw.
    const stat = (folder) => {
      try {
        return fs.statSync(folder, { throwIfNoEntry: false });
      } catch {
        return undefined;
      }
    };
    // The cache home where it exists, else the folder it would be made in.
    const owner = cacheHome && (stat(cacheHome) ?? stat(cacheHome.slice(0, cacheHome.lastIndexOf('/')) || '/'))?.uid;
    const ours = owner !== undefined && owner === process.getuid?.() ? `${cacheHome}/vecr/compile` : undefined;
    const folder = process.env.NODE_COMPILE_CACHE || ours;
    if (folder) module.enableCompileCache(folder);
  }
  // The program is bundled (scripts/bundle.mjs): a stack trace asked for names the sources.
  if (process.env.VECR_DEBUG) process.setSourceMapsEnabled(true);
  await import('../dist/cli/main.js');
}
