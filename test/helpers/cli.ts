import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI as users run it: the built bin (npm test builds first), in a process of its own. */
export const vecrBin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The settings that point vecr at a database or a data folder, removed: a command then finds
 * what it finds where it runs, as it would for a user in a fresh shell.
 */
export function envWithoutVecrSettings(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/^(DATABASE_URL|MEMBER_DB_|VECR_|CHATLOG_|PORT$)/.test(name)));
}

/** Runs `vecr ARGS` in `cwd` with exactly `env`; `node` takes `nodeArgs` first. */
export function runVecr(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; nodeArgs?: string[] }): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...(options.nodeArgs ?? []), vecrBin, ...args], { cwd: options.cwd, env: options.env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const hook = fileURLToPath(new URL('./loadedModules.mjs', import.meta.url));

/** Runs `vecr ARGS` and answers, beside its result, the packages it loaded (`pg`, `@aws-sdk/client-s3`, ...). */
export async function packagesLoadedBy(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ result: CliResult; packages: Set<string> }> {
  const file = path.join(options.cwd, `loaded-${process.pid}-${Date.now()}.txt`);
  const result = await runVecr(args, { ...options, env: { ...options.env, LOADED_MODULES_FILE: file }, nodeArgs: ['--import', hook] });
  const urls = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
  await fs.rm(file);
  const sources = await sourcesOf(urls);
  const packages = new Set(
    sources.map((source) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source)?.[1]).filter((name): name is string => name !== undefined),
  );
  return { result, packages };
}

const bundle = new URL('../../dist/cli/', import.meta.url);

/**
 * The files behind the modules loaded: a file of the bundle (dist/cli) stands for the sources
 * and packages bundled into it, as its build's metafile lists them (scripts/bundle.mjs).
 */
async function sourcesOf(urls: string[]): Promise<string[]> {
  const { outputs } = JSON.parse(await fs.readFile(new URL('meta.json', bundle), 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> };
  return urls.flatMap((url) => {
    if (!url.startsWith(bundle.href)) return [url];
    const output = outputs[`dist/cli/${url.slice(bundle.href.length)}`];
    if (!output) throw new Error(`${url} is not in the bundle's metafile: is dist/cli from another build?`);
    return Object.keys(output.inputs);
  });
}
