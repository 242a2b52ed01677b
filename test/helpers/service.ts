import { openChatStore } from '../../src/chatlog/open.js';
import type { ChatStore } from '../../src/chatlog/store.js';
import { type Config, loadConfig } from '../../src/config.js';
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
