import type { ChatMessage, ChatSession } from './schema.js';

export type ExportFormat = 'jsonl' | 'md';

/** A session as JSON Lines (one message per line) or Markdown, streamed a message at a time. */
export async function* exportSession(session: ChatSession, messages: AsyncIterable<ChatMessage>, format: ExportFormat): AsyncIterable<string> {
  if (format === 'jsonl') {
    for await (const message of messages) yield JSON.stringify(message) + '\n';
    return;
  }
  yield `# Session ${session.session_id}\n\n`;
  const facts = [
    session.channel_id ? `channel ${session.channel_id}` : undefined,
    session.thread_id ? `thread ${session.thread_id}` : undefined,
    `started ${new Date(session.created_at).toISOString()}`,
    session.status === 'closed' && session.closed_at ? `closed ${new Date(session.closed_at).toISOString()}` : undefined,
  ].filter(Boolean);
  yield `${facts.join(' · ')}\n`;
  for await (const message of messages) {
    const who = message.speaker_type === 'virtual' ? `${message.speaker_name} (AI${message.llm_model ? `, ${message.llm_model}` : ''})` : message.speaker_name;
    yield `\n## ${who} — ${new Date(message.timestamp).toISOString()}\n\n${message.content.trim()}\n`;
  }
}
