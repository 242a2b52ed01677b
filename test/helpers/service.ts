import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openChatStore } from '../../src/chatlog/open.js';
import type { ChatStore } from '../../src/chatlog/store.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Db } from '../../src/db/types.js';
import { runService, type Service } from '../../src/service.js';
import type { Storage } from '../../src/storage/types.js';

/** The service on a test database and storage, on a free port, with no periodic reconcile. */
export async function serveForTest(db: Db, storage: Storage, overrides: (config: Config) => void = () => {}, chat?: ChatStore): Promise<Service> {
  const config = loadConfig({ PORT: '0', VECR_RECONCILE_INTERVAL: '0', VECR_DATA_DIR: '/nonexistent' });
  overrides(config);
  const service = await runService(config, { db, storage, ...(chat ? { chat } : {}) });
  // The first full sync has run (or failed, with the storage down) before the test begins.
  await service.context.reconciler!.run('test').catch(() => {});
  return service;
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

export async function get(url: string) {
  const response = await fetch(url);
  const text = await response.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, headers: response.headers };
}

/** Any request; the body parsed as JSON when it is JSON, with the answer's headers. */
export async function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, headers: response.headers };
}

/** Polls until `check` passes or the deadline is reached (no duration is asserted). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** A chat log store on the embedded DynamoDB-compatible server (dynalite) in a folder of its own. */
export async function chatStoreForTest(dataDir: string, env: Record<string, string> = {}): Promise<ChatStore> {
  const chat = await openChatStore(loadConfig({ VECR_DATA_DIR: dataDir, ...env }));
  await chat.ensureTable();
  return chat;
}

const bin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  /** Where the API listens, from the banner. */
  url: string;
  /** Everything the process wrote so far (the banner and the logs). */
  output(): { stdout: string; stderr: string };
  /** Its exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGKILL unless it has exited; always safe to call. */
  kill(): Promise<void>;
}

/**
 * `vecr serve` as users run it: the built bin in a process of its own, on free ports, no periodic
 * sync and no folder watch unless `env` says otherwise. Resolves once the banner is printed; rejects
 * with its output when it exits first.
 */
export async function spawnServe(env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<ServeProcess> {
  const child = spawn(process.execPath, [bin, 'serve'], {
    cwd,
    env: { ...process.env, PORT: '0', VECR_PG_PORT: '0', VECR_RECONCILE_INTERVAL: '0', VECR_WATCH: 'false', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', () => {
      if (/chat log: .*\n/.test(stderr)) resolve(/listening on (http:\/\/\S+)/.exec(stderr)![1]!);
    });
    void exited.then((code) => reject(new Error(`vecr serve exited (${code}) before it listened:\n${stderr}\n${stdout}`)));
  });
  return {
    child,
    url,
    output: () => ({ stdout, stderr }),
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
