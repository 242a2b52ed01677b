import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { type ExportFormat, exportSession } from '../../chatlog/export.js';
import { openChatStore } from '../../chatlog/open.js';
import type { ChatStore } from '../../chatlog/store.js';
import type { Config } from '../../config.js';
import { localTime } from '../../localTime.js';
import { configFrom, embeddedChatStore, lookBeforeCreatingStore } from '../context.js';
import { printJson, printTable, shown, writeFileWhole } from '../output.js';

/** Opens the chat log store for one command; one that only reads never makes an embedded store. */
async function withChat<T>(config: Config, fn: (chat: ChatStore) => Promise<T>, options: { readOnly: boolean }): Promise<T> {
  if (config.chatlog.embedded) await lookBeforeCreatingStore(embeddedChatStore(config), options.readOnly);
  const chat = await openChatStore(config);
  try {
    return await fn(chat);
  } finally {
    await chat.close();
  }
}

export async function initChatlog(options: { json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const result = await withChat(config, async (chat) => ({ ...(await chat.ensureTable()), table: chat.description }), { readOnly: false });
  if (options.json) printJson(result);
  else {
    process.stdout.write(`${result.created ? 'created' : 'exists:'} ${result.table}\n`);
    if (result.ttl === 'unsupported') process.stdout.write('TTL: this endpoint does not support it; expires_at is written anyway\n');
    else process.stdout.write(`TTL: ${result.ttl}\n`);
  }
}

export async function listSessions(options: { channel?: string; member?: string; limit: string; cursor?: string; json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit must be a positive number, not "${options.limit}"`);
  const filter = { ...(options.channel ? { channel_id: options.channel } : {}), ...(options.member ? { member: options.member } : {}) };
  const page = await withChat(config, (chat) => chat.listSessions(filter, { limit, ...(options.cursor ? { cursor: options.cursor } : {}) }), {
    readOnly: true,
  });
  if (options.json) {
    printJson(page);
    return;
  }
  printTable(
    page.sessions.map((s) => ({ ...s, last_activity: localTime(s.last_activity) })),
    ['session_id', 'channel_id', 'status', 'message_count', 'last_activity', 'members'],
  );
  if (page.next_cursor) process.stdout.write(`... more: --cursor ${page.next_cursor}\n`);
}

export async function tailSession(session: string, options: { lines: string; json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const lines = Number(options.lines);
  if (!Number.isInteger(lines) || lines < 1) throw new Error(`--lines must be a positive number, not "${options.lines}"`);
  const messages = await withChat(
    config,
    async (chat) => {
      const { messages } = await chat.readMessages(session, { limit: lines, order: 'desc' });
      // No messages may be an empty session, or a mistyped id: only the first is silence.
      if (messages.length === 0 && !(await chat.getSession(session))) throw new Error(`no session ${session}`);
      return messages.reverse();
    },
    { readOnly: true },
  );
  if (options.json) printJson({ messages });
  // A message's own lines are indented: none can pass for the next message's line.
  else
    for (const m of messages)
      process.stdout.write(`[${localTime(m.timestamp)}] ${shown(m.speaker_name)} (${m.role}): ${shown(m.content, { lines: true }).replace(/\n/g, '\n    ')}\n`);
}

export async function exportChatSession(session: string, options: { format: string; out?: string }, command: Command) {
  if (options.format !== 'jsonl' && options.format !== 'md') throw new Error(`--format must be jsonl or md, not "${options.format}"`);
  const config = configFrom(command.optsWithGlobals());
  await withChat(
    config,
    async (chat) => {
      const found = await chat.getSession(session);
      if (!found) throw new Error(`no session ${session}`);
      const write = async (out: Writable, onTerminal = false) => {
        for await (const chunk of exportSession(found, chat.allMessages(session), options.format as ExportFormat)) {
          // A file gets the export exactly; a terminal, what it can show without acting on it.
          if (!out.write(onTerminal ? shown(chunk, { lines: true }) : chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
        }
      };
      if (options.out) await writeFileWhole(options.out, { overwrite: true }, write);
      else await write(process.stdout, process.stdout.isTTY);
    },
    { readOnly: true },
  );
}

export async function deleteChatSession(session: string, options: { json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const deleted = await withChat(config, (chat) => chat.deleteSession(session), { readOnly: true });
  if (deleted === undefined) throw new Error(`no session ${session}`);
  if (options.json) printJson({ session_id: session, deleted_messages: deleted });
  else process.stdout.write(`deleted ${session} (${deleted} messages)\n`);
}
