import { HtmlRenderer, Parser } from 'commonmark';
import { describe, expect, it } from 'vitest';
import { exportSession } from '../../src/chatlog/export.js';
import type { ChatMessage, ChatSession } from '../../src/chatlog/schema.js';

const session: ChatSession = {
  session_id: 'discord:c1',
  channel_id: 'c1',
  thread_id: null,
  status: 'open',
  created_at: 1_800_000_000_000,
  last_activity: 1_800_000_005_000,
  closed_at: null,
  message_count: 3,
  members: [],
};

const message = (speaker_name: string, content: string, extra: Partial<ChatMessage> = {}): ChatMessage => ({
  session_id: session.session_id,
  timestamp: 1_800_000_000_000,
  speaker_name,
  speaker_type: 'human',
  role: 'user',
  content,
  source: 'discord',
  ...extra,
});

async function* each<T>(items: T[]) {
  yield* items;
}

async function exported(messages: ChatMessage[], format: 'jsonl' | 'md') {
  let text = '';
  for await (const chunk of exportSession(session, each(messages), format)) text += chunk;
  return text;
}

/** Markdown as a viewer that lets raw HTML through (many do) would show it. */
const render = (markdown: string) => new HtmlRenderer({ safe: false }).render(new Parser().parse(markdown));

/** The headings of the document itself, not those quoted inside a message. */
function topLevelHeadings(markdown: string): string[] {
  const headings: string[] = [];
  for (let node = new Parser().parse(markdown).firstChild; node; node = node.next) {
    if (node.type !== 'heading') continue;
    let text = '';
    const walker = node.walker();
    for (let step = walker.next(); step; step = walker.next()) if (step.entering && step.node.literal) text += step.node.literal;
    headings.push(`${'#'.repeat(node.level)} ${text}`);
  }
  return headings;
}

const hostile = [
  message('Mallory', 'hi <script>alert(1)</script> and <img src=x onerror=alert(2)>'),
  message('Mallory', 'done.\n\n## Admin — 2030-01-01T00:00:00.000Z\n\nI approve everything.\n<iframe src="https://evil.example">'),
  message('[click](javascript:alert(3)) <b>boss</b>', 'as a name', { speaker_type: 'virtual', llm_model: '<i>m</i>' }),
  // What is not code to CommonMark though it looks like it: an escaped backtick, a fence whose
  // info string holds a backtick; and links and images.
  message('Mallory', '\\`<img src=x onerror=alert(4)>`'),
  message('Mallory', '```a`\n<img src=y onerror=alert(5)>'),
  message('Mallory', '[click](javascript:alert(6)) ![t](http://127.0.0.1:9/track.png)'),
];

describe('chat log export', () => {
  it('writes JSON Lines no viewer takes for HTML, that parse back to the same messages', async () => {
    const text = await exported(hostile, 'jsonl');
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(hostile);
  });

  it('writes Markdown in which no message adds HTML, a heading or a link of its own', async () => {
    const markdown = await exported(hostile, 'md');
    const html = render(markdown);
    expect(html).not.toMatch(/<(script|img|iframe|b|i|a)\b/);
    // The session's heading and one per message: the forged "## Admin" stays inside its message.
    expect(topLevelHeadings(markdown)).toEqual([
      '# Session discord:c1',
      '## Mallory — 2027-01-15T08:00:00.000Z',
      '## Mallory — 2027-01-15T08:00:00.000Z',
      '## [click](javascript:alert(3)) <b>boss</b> (AI, <i>m</i>) — 2027-01-15T08:00:00.000Z',
      '## Mallory — 2027-01-15T08:00:00.000Z',
      '## Mallory — 2027-01-15T08:00:00.000Z',
      '## Mallory — 2027-01-15T08:00:00.000Z',
    ]);
    expect(html).toContain('<h2>[click](javascript:alert(3)) &lt;b&gt;boss&lt;/b&gt; (AI, &lt;i&gt;m&lt;/i&gt;) — ');
  });

  it('shows every message exactly as written, backticks and fences of its own included', async () => {
    const contents = [
      'Use `<div>` here, or ``a ` b``:\n\n```html\n<div class="x">&amp;</div>\n```\n\n- **bold** item',
      'a ```` run, and a line\n````\nof its own',
      ...hostile.map((m) => m.content),
    ];
    const markdown = await exported(
      contents.map((content) => message('Rin', content)),
      'md',
    );
    const blocks: string[] = [];
    const walker = new Parser().parse(markdown).walker();
    for (let step = walker.next(); step; step = walker.next()) if (step.entering && step.node.type === 'code_block') blocks.push(step.node.literal!);
    expect(blocks).toEqual(contents.map((content) => `${content}\n`));
  });
});
