import type { ChatMessage, ChatSession } from './schema.js';

export type ExportFormat = 'jsonl' | 'md';

/**
 * A session as JSON Lines (one message per line) or Markdown, streamed a message at a time.
 *
 * What people and bots wrote must not become markup where the export is opened: a JSON line
 * escapes `<`, `>` and `&` (no browser or viewer can take it for HTML), and in Markdown raw HTML
 * is neutralised and each message is quoted, so that no message can add a heading of its own and
 * pass for another speaker. Markdown inside a message (lists, emphasis, code) still renders.
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
    yield `\n## ${who} — ${new Date(message.timestamp).toISOString()}\n\n${quoted(message.content.trim())}\n`;
  }
}

/**
 * JSON whose text holds no `<`, `>` or `&`, nor what acts on a terminal beyond what JSON escapes
 * anyway (DEL, C1 controls, separators, bidirectional overrides): still the same JSON to a parser.
 */
function jsonLine(message: ChatMessage): string {
  return (
    JSON.stringify(message).replace(/[<>&\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n'
  );
}

/** A name or an id as literal Markdown text: every punctuation character that could be markup, escaped. */
function markdownText(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&"']/g, '\\$&');
}

/**
 * A message's content as a block quote, with raw HTML made harmless: `<` outside code becomes
 * `&lt;` (which shows as `<`). Code — fenced blocks and inline spans — is left as written: Markdown
 * shows it literally anyway.
 */
function quoted(content: string): string {
  let fence: { marker: string; length: number } | undefined;
  return content
    .split(/\r\n|\r|\n/)
    .map((line) => {
      const opening = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (fence) {
        if (opening && opening[1]![0] === fence.marker && opening[1]!.length >= fence.length && /^ {0,3}[`~]+\s*$/.test(line)) fence = undefined;
      } else if (opening) {
        fence = { marker: opening[1]![0]!, length: opening[1]!.length };
      } else {
        line = withoutHtml(line);
      }
      return line ? `> ${line}` : '>';
    })
    .join('\n');
}

/** `<` outside inline code spans (a run of backticks closed by a run of the same length) as `&lt;`. */
function withoutHtml(line: string): string {
  let result = '';
  let i = 0;
  while (i < line.length) {
    const tick = line.indexOf('`', i);
    if (tick < 0) break;
    result += line.slice(i, tick).replaceAll('<', '&lt;');
    const run = /^`+/.exec(line.slice(tick))![0];
    const close = new RegExp(`(?<!\`)${run}(?!\`)`, 'g');
    close.lastIndex = tick + run.length;
    const end = close.exec(line);
    // A span is copied as it is; a run that closes nothing is plain backticks.
    const upTo = end ? end.index + run.length : tick + run.length;
    result += line.slice(tick, upTo);
    i = upTo;
  }
  return result + line.slice(i).replaceAll('<', '&lt;');
}
