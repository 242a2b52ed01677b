import type { ChatMessage, ChatSession } from './schema.js';

export type ExportFormat = 'jsonl' | 'md';

/**
 * A session as JSON Lines (one message per line) or Markdown, streamed a message at a time.
 *
 * What people and bots wrote must not become markup where the export is opened: a JSON line
 * escapes `<`, `>` and `&` (no browser or viewer can take it for HTML), and in Markdown each
 * message is a literal block, so that no message can add markup, a link or a heading of its own
 * and pass for another speaker; names and ids are escaped.
 */
export async function* exportSession(session: ChatSession, messages: AsyncIterable<ChatMessage>, format: ExportFormat): AsyncIterable<string> {
  if (format === 'jsonl') {
    for await (const message of messages) yield jsonLine(message);
    return;
  }
  yield `# Session ${markdownText(session.session_id)}\n\n`;
  const facts = [
    session.channel_id ? `channel ${markdownText(session.channel_id)}` : undefined,
    session.thread_id ? `thread ${markdownText(session.thread_id)}` : undefined,
    `started ${new Date(session.created_at).toISOString()}`,
    session.status === 'closed' && session.closed_at ? `closed ${new Date(session.closed_at).toISOString()}` : undefined,
  ].filter(Boolean);
  yield `${facts.join(' · ')}\n`;
  for await (const message of messages) {
    const name = markdownText(message.speaker_name);
    const who = message.speaker_type === 'virtual' ? `${name} (AI${message.llm_model ? `, ${markdownText(message.llm_model)}` : ''})` : name;
    yield `\n## ${who} — ${new Date(message.timestamp).toISOString()}\n\n${literalBlock(message.content)}\n`;
  }
}

/**
 * JSON whose text holds no `<`, `>` or `&`, nor what acts on a terminal beyond what JSON escapes
 * anyway (DEL, C1 controls, separators, bidirectional overrides): still the same JSON to a parser.
 */
function jsonLine(message: ChatMessage): string {
  return `${JSON.stringify(message).replace(/[<>&\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}

/** A name or an id as literal Markdown text: every punctuation character that could be markup, escaped. */
function markdownText(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&"']/g, '\\$&');
}

/**
 * A message's content exactly as written: a fenced code block whose fence is longer than any run
 * of backticks inside, so that nothing in it — HTML, links, images, headings, a fence of its own —
 * is markup to any CommonMark viewer. (Rendering the Markdown of chat messages safely would take
 * a sanitiser of the rendered HTML; a literal block cannot be got wrong.)
 */
function literalBlock(content: string): string {
  const longestRun = Math.max(2, ...Array.from(content.matchAll(/`+/g), (run) => run[0].length));
  const fence = '`'.repeat(longestRun + 1);
  return `${fence}text\n${content.replace(/\r\n?/g, '\n')}\n${fence}`;
}
