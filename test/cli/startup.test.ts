import fs from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envWithoutVecrSettings, packagesLoadedBy, runVecr } from '../helpers/cli.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, writeFiles } from '../helpers/files.js';

// What each command loads decides how long it takes to start (`vecr health` runs every few
// seconds in a container, `vecr validate` at every commit): each loads only what it uses.
// `npm run bench:cli` measures the times; these tests hold the loading.

const heavy = [
  'fastify',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  'chokidar',
  '@aws-sdk/client-s3',
  '@aws-sdk/client-dynamodb',
  '@electric-sql/pglite',
  'dynalite',
];

describe('vecr start-up', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  const env = envWithoutVecrSettings();
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await work?.remove();
  });

  it('--version and -V print the version of package.json', async () => {
    const { version } = JSON.parse(await fs.readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await runVecr([flag], { cwd: work.dir, env });
      expect([flag, result.code, result.stdout]).toEqual([flag, 0, `${version}\n`]);
    }
    expect((await runVecr(['--help'], { cwd: work.dir, env })).stdout).toContain('-V, --version');
  });

  it("keeps compiled code in the user's cache folder, and nowhere else", async () => {
    const folder = await tempDir();
    try {
      const cwd = path.join(folder.dir, 'project');
      const home = path.join(folder.dir, 'home');
      await fs.mkdir(cwd);
      await fs.mkdir(home);
      const { XDG_CACHE_HOME: _xdg, NODE_COMPILE_CACHE: _node, ...rest } = env;
      expect((await runVecr(['-V'], { cwd, env: { ...rest, HOME: home } })).code).toBe(0);
      expect(await fs.readdir(path.join(home, '.cache', 'vecr', 'compile'))).not.toEqual([]);
      // No home to speak of: no cache, rather than one in the working folder (review: ./.cache).
      for (const HOME of ['', 'relative']) {
        expect((await runVecr(['-V'], { cwd, env: { ...rest, HOME } })).code).toBe(0);
        expect(await fs.readdir(cwd), `HOME=${HOME}`).toEqual([]);
      }
      // Node's own setting, from an env file too (Node reads that one only at its start).
      await fs.writeFile(path.join(folder.dir, 'e.env'), `NODE_COMPILE_CACHE=${path.join(folder.dir, 'chosen')}\n`);
      const fromFile = await runVecr(['-V'], { cwd, env: { ...rest, HOME: home }, nodeArgs: [`--env-file=${path.join(folder.dir, 'e.env')}`] });
      expect(fromFile.code).toBe(0);
      expect(await fs.readdir(path.join(folder.dir, 'chosen'))).not.toEqual([]);
    } finally {
      await folder.remove();
    }
  });

  it('help and version load the command-line parser, and nothing a command needs', async () => {
    for (const args of [['--help'], ['--version'], ['members', '--help'], ['serve', '--help'], ['sync', '--help']]) {
      const { result, packages } = await packagesLoadedBy(args, { cwd: work.dir, env });
      expect(result.code, args.join(' ')).toBe(0);
      expect({ args, packages: [...packages] }).toEqual({ args, packages: ['commander'] });
    }
  });

  it('validate loads the member schema, and the YAML parser only for a file the quick reader cannot pass; no database and no server', async () => {
    await writeFiles(work.dir, { 'human_members/rin.yml': human('Rin'), 'human_members/bad.yml': human('Bad', 'contact_email: not-an-address\n') });
    const valid = await packagesLoadedBy(['validate', 'human_members/rin.yml'], { cwd: work.dir, env });
    expect(valid.result.code, valid.result.stderr).toBe(0);
    expect([...valid.packages].sort()).toEqual(['commander', 'zod']);
    const invalid = await packagesLoadedBy(['validate', 'human_members/rin.yml', 'human_members/bad.yml'], { cwd: work.dir, env });
    expect(invalid.result.code).toBe(1);
    expect(invalid.result.stderr).toContain('bad.yml:4:16: contact_email: is not a valid e-mail address');
    expect([...invalid.packages].sort()).toEqual(['commander', 'yaml', 'zod']);
  });

  describe.runIf(process.env.TEST_DATABASE_URL)('on a PostgreSQL server', () => {
    let server: TestDatabase;
    beforeAll(async () => {
      server = await freshDatabase('postgres');
    });
    afterAll(async () => {
      await server?.close();
    });

    it('members count and health load the PostgreSQL driver, and neither PGlite, the AWS SDK, the HTTP server nor the schemas', async () => {
      for (const args of [['members', 'count'], ['health']]) {
        const { result, packages } = await packagesLoadedBy(args, { cwd: work.dir, env: { ...env, DATABASE_URL: server.url! } });
        if (args[0] === 'members') expect(result.stdout).toBe('human_members    0\nvirtual_members  0\n');
        else expect(result.stdout).toMatch(/^ok: .* schema current/);
        expect(packages.has('pg'), args.join(' ')).toBe(true);
        expect(
          [...packages].filter((name) => heavy.includes(name) || name === 'zod' || name === 'yaml'),
          args.join(' '),
        ).toEqual([]);
      }
    });
  });

  it('the bundle imports nothing but Node.js and the packages package.json declares', async () => {
    // What the bundle leaves as an import is found in node_modules at run time: one that is not
    // ours only works while npm happens to hoist it (review: @fastify/error, imported by the
    // bundled fastify-type-provider-zod).
    const { dependencies } = JSON.parse(await fs.readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const { outputs } = JSON.parse(await fs.readFile(new URL('../../dist/cli/meta.json', import.meta.url), 'utf8')) as {
      outputs: Record<string, { imports: Array<{ path: string; external?: boolean }> }>;
    };
    const imported = new Set(
      Object.values(outputs).flatMap((output) =>
        output.imports
          .filter((i) => i.external && !isBuiltin(i.path))
          .map((i) =>
            i.path
              .split('/')
              .slice(0, i.path.startsWith('@') ? 2 : 1)
              .join('/'),
          ),
      ),
    );
    // pg's optional native binding: pg asks for it only when told to use it.
    imported.delete('pg-native');
    expect([...imported].filter((name) => !(name in dependencies))).toEqual([]);
    expect(imported).toContain('fastify');
  });
});
