// Bundles the `vecr` program into dist/cli: a process that starts for one command reads a few
// files instead of hundreds of modules (docs/benchmarks.md, bench:cli). Code split at each
// command's dynamic import, so a command still loads only what it uses. Output sits flat in one
// folder, because code finds its neighbours beside itself (import.meta.url): the worker threads'
// modules (src/workerThread.ts) and the migrations (src/db/migrations).
//
// Left outside, loaded from node_modules as they are: packages that read files of their own
// package (PGlite's WebAssembly, Swagger UI's assets, dynalite's LevelDB), the AWS SDK, the HTTP
// server and chokidar, all loaded only by the commands that use them. What a bundled package
// imports from those stays an import, of our own node_modules: package.json lists it as ours
// (@fastify/error, which the bundled fastify-type-provider-zod imports; the provider is bundled
// so that it shares our zod, its schemas and their metadata).
import fs from 'node:fs/promises';
import * as esbuild from 'esbuild';

const outdir = 'dist/cli';
const external = [
  '@electric-sql/*',
  '@aws-sdk/*',
  'fastify',
  '@fastify/*',
  'dynalite',
  'chokidar',
  // pg's optional native binding, which it requires only when asked to.
  'pg-native',
];

await fs.rm(outdir, { recursive: true, force: true });
const { metafile } = await esbuild.build({
  entryPoints: {
    main: 'src/cli/main.ts',
    'readerThread.worker': 'src/storage/readerThread.worker.ts',
    embeddedServer: 'src/chatlog/embeddedServer.ts',
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external,
  chunkNames: '[name]-[hash]',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  // CommonJS packages (pg, commander) require Node's own modules; an ES module has no `require`.
  banner: { js: "import { createRequire as __vecrRequire } from 'node:module';\nconst require = __vecrRequire(import.meta.url);" },
});
await fs.cp('src/db/migrations', `${outdir}/migrations`, { recursive: true });
// Which sources and packages each output file holds: test/cli/startup.test.ts reads it.
await fs.writeFile(`${outdir}/meta.json`, JSON.stringify(metafile));
