import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildContext } from '../../chatlog/context.js';
import { ChatRequestError } from '../../chatlog/errors.js';
import { type ChatMessage, type ChatSession, sessionIdSchema } from '../../chatlog/schema.js';
import type { ChatStore } from '../../chatlog/store.js';
import { getMember } from '../../registry/read.js';
import type { AppContext } from '../context.js';
import { type Html, html } from './html.js';
import { type Language, languageOf, t } from './i18n.js';
import { accountBar, when } from './members.js';
import type { Session } from './session.js';
import { acceptForms, formsNeedASession, page, sendPage, type UiAuth } from './signin.js';

/** Sessions on one page of the list, messages on one page of a transcript. */
export const chatPageSize = 50;

/** The messages of a session a context preview reads, as the API's default. */
const contextMessages = 30;
const contextChars = 12_000;

const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 255) : undefined);

export const sessionUrl = (id: string) => `/chat/sessions/${encodeURIComponent(id)}`;

const at = (ms: number) => when(new Date(ms).toISOString());

/** The list of sessions (/chat), a transcript, its deletion and an AI member's context preview: read from the chat log store. */
export function chatPages(app: AppContext, ui: UiAuth) {
  return async function chat(fastify: FastifyInstance) {
    acceptForms(fastify);
    formsNeedASession(fastify);
    /** The page that says there is no chat log store, or the store. */
    const storeOr = (request: FastifyRequest, reply: FastifyReply, language: Language): ChatStore | undefined => {
      if (app.chat) return app.chat;
      const main = html`<h2>${t(language, 'chat.title')}</h2><p class="message">${t(language, 'chat.noStore')}</p>`;
      void sendPage(reply, 503, page(language, t(language, 'chat.title'), main, request));
      return undefined;
    };
    /** The store and the session the URL names, or the page that says which is missing. */
    const sessionOr = async (
      request: FastifyRequest,
      reply: FastifyReply,
      language: Language,
    ): Promise<{ store: ChatStore; session: ChatSession } | undefined> => {
      const store = storeOr(request, reply, language);
      if (!store) return undefined;
      const { id } = request.params as { id: string };
      const valid = sessionIdSchema.safeParse(id);
      const session = valid.success ? await store.getSession(valid.data) : undefined;
      if (session) return { store, session };
      const main = html`<p><a href="/chat">${t(language, 'chat.back')}</a></p><h2>${t(language, 'chat.notFound')}</h2><p>${t(language, 'chat.notFoundText', { id })}</p>`;
      void sendPage(reply, 404, page(language, t(language, 'chat.notFound'), main, request));
      return undefined;
    };
    /**
     * A page of a list read with the URL's cursor, or, when the cursor is not one the store handed
     * out (edited, cut short), a page that says so and links to the first page.
     */
    const pageOr = async <T>(
      request: FastifyRequest,
      reply: FastifyReply,
      language: Language,
      firstUrl: string,
      read: () => Promise<T>,
    ): Promise<T | undefined> => {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof ChatRequestError && error.kind === 'bad_cursor')) throw error;
        const main = html`${await accountBar(ui, request, language)}
<p><a href="${firstUrl}">${t(language, 'chat.first')}</a></p>
<h2>${t(language, 'chat.title')}</h2>
<p class="message" role="alert">${t(language, 'chat.badCursor')}</p>`;
        void sendPage(reply, 400, page(language, t(language, 'chat.title'), main, request));
        return undefined;
      }
    };

    fastify.get('/chat', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      const store = storeOr(request, reply, language);
      if (!store) return reply;
      const query = request.query as Record<string, unknown>;
      const channel = text(query.channel_id);
      const member = text(query.member);
      const cursor = text(query.cursor);
      // The store lists the sessions of a channel or of a speaker, not of both: the page says so.
      const both = channel !== undefined && member !== undefined;
      const listUrl = (extra: Record<string, string>) => {
        const search = new URLSearchParams({ ...(channel ? { channel_id: channel } : {}), ...(member ? { member } : {}), ...extra });
        const query = search.toString();
        return query ? `/chat?${query}` : '/chat';
      };
      const listed = both
        ? { sessions: [], next_cursor: null }
        : await pageOr(request, reply, language, listUrl({}), () =>
            store.listSessions(
              { ...(channel ? { channel_id: channel } : {}), ...(member ? { member } : {}) },
              { limit: chatPageSize, ...(cursor ? { cursor } : {}) },
            ),
          );
      if (!listed) return reply;
      const { sessions, next_cursor } = listed;
      const main = html`${await accountBar(ui, request, language)}
<p><a href="/">${t(language, 'member.back')}</a></p>
<h2>${t(language, 'chat.title')}</h2>
<form class="filters" method="get" action="/chat" role="search">
<label>${t(language, 'chat.channel')} <input name="channel_id" value="${channel ?? ''}"></label>
<label>${t(language, 'chat.member')} <input name="member" value="${member ?? ''}"></label>
<div class="actions"><button type="submit">${t(language, 'team.apply')}</button> <a href="/chat">${t(language, 'team.clear')}</a></div>
</form>
${both ? html`<p class="message" role="alert">${t(language, 'chat.oneFilter')}</p>` : ''}
${
  sessions.length === 0
    ? html`<p>${t(language, 'chat.none')}</p>`
    : html`<div class="scroll"><table>
<thead><tr><th scope="col">${t(language, 'chat.session')}</th><th scope="col">${t(language, 'chat.channel')}</th><th scope="col">${t(language, 'chat.speakers')}</th><th scope="col">${t(language, 'chat.messages')}</th><th scope="col">${t(language, 'chat.status')}</th><th scope="col">${t(language, 'chat.lastActivity')}</th></tr></thead>
<tbody>
${sessions.map(
  (
    session,
  ) => html`<tr><td><a href="${sessionUrl(session.session_id)}">${session.session_id}</a></td><td>${session.channel_id ?? ''}${session.thread_id ? ` / ${session.thread_id}` : ''}</td><td>${session.members.join(', ')}</td><td>${session.message_count}</td><td>${t(language, session.status === 'open' ? 'chat.open' : 'chat.closed')}</td><td>${at(session.last_activity)}</td></tr>
`,
)}</tbody>
</table></div>`
}
<nav class="pages" aria-label="${t(language, 'team.pages')}">
${cursor ? html`<a href="${listUrl({})}">${t(language, 'chat.first')}</a>` : ''}
${next_cursor ? html`<a href="${listUrl({ cursor: next_cursor })}" rel="next">${t(language, 'team.next')}</a>` : ''}
</nav>`;
      return sendPage(reply, 200, page(language, t(language, 'chat.title'), main, request));
    });

    fastify.get('/chat/sessions/:id', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      const found = await sessionOr(request, reply, language);
      if (!found) return reply;
      const { store, session } = found;
      const cursor = text((request.query as Record<string, unknown>).cursor);
      const url = sessionUrl(session.session_id);
      const read = await pageOr(request, reply, language, url, () =>
        store.readMessages(session.session_id, { limit: chatPageSize, order: 'asc', ...(cursor ? { cursor } : {}) }),
      );
      if (!read) return reply;
      const { messages, next_cursor } = read;
      const exportUrl = (format: 'md' | 'jsonl') => `/api/chat/sessions/${encodeURIComponent(session.session_id)}/export?format=${format}`;
      const aiSpeakers = await aiMembersAmong(app, session.members);
      const main = html`${await accountBar(ui, request, language)}
<p><a href="/chat">${t(language, 'chat.back')}</a></p>
<h2>${session.session_id}</h2>
<p>${t(language, 'chat.summary', { count: session.message_count, status: t(language, session.status === 'open' ? 'chat.open' : 'chat.closed') })} ${at(session.created_at)} – ${at(session.last_activity)}</p>
<ul class="tabs">
<li><a href="${exportUrl('md')}">${t(language, 'chat.exportMd')}</a></li>
<li><a href="${exportUrl('jsonl')}">${t(language, 'chat.exportJsonl')}</a></li>
${aiSpeakers.map((name) => html`<li><a href="${url}/context?member=${encodeURIComponent(name)}">${t(language, 'chat.contextOf', { name })}</a></li>`)}
<li><a href="${url}/delete">${t(language, 'chat.delete')}</a></li>
</ul>
${
  messages.length === 0
    ? html`<p>${t(language, 'chat.noMessages')}</p>`
    : html`<ol class="transcript">
${messages.map((message) => messageItem(language, message))}</ol>`
}
<nav class="pages" aria-label="${t(language, 'team.pages')}">
${cursor ? html`<a href="${url}">${t(language, 'chat.first')}</a>` : ''}
${next_cursor ? html`<a href="${url}?cursor=${encodeURIComponent(next_cursor)}" rel="next">${t(language, 'team.next')}</a>` : ''}
</nav>`;
      return sendPage(reply, 200, page(language, session.session_id, main, request));
    });

    fastify.get('/chat/sessions/:id/delete', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      const found = await sessionOr(request, reply, language);
      if (!found) return reply;
      const { session } = found;
      const csrf = await ui.sessions.csrfToken(request.session as Session);
      const main = html`${await accountBar(ui, request, language)}
<p><a href="${sessionUrl(session.session_id)}">${t(language, 'chat.backToSession')}</a></p>
<h2>${t(language, 'chat.deleteTitle', { id: session.session_id })}</h2>
<p>${t(language, 'chat.deleteQuestion', { count: session.message_count })}</p>
<form method="post" action="${sessionUrl(session.session_id)}/delete"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">${t(language, 'chat.deleteConfirm', { count: session.message_count })}</button></form>`;
      return sendPage(reply, 200, page(language, t(language, 'chat.deleteTitle', { id: session.session_id }), main, request));
    });

    // Needs the admin scope: a viewer's session is refused (403) before the handler runs.
    fastify.post('/chat/sessions/:id/delete', { config: { access: 'admin' } }, async (request, reply) => {
      const language = languageOf(request);
      const found = await sessionOr(request, reply, language);
      if (!found) return reply;
      const { store, session } = found;
      await store.deleteSession(session.session_id);
      request.log.info({ session: session.session_id }, 'chat session deleted from the web UI');
      return reply.code(303).header('location', '/chat').send();
    });

    fastify.get('/chat/sessions/:id/context', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      const found = await sessionOr(request, reply, language);
      if (!found) return reply;
      const { store, session } = found;
      const name = text((request.query as Record<string, unknown>).member) ?? '';
      const member = name ? await getMember(app.db, 'virtual', name) : undefined;
      const back = html`${await accountBar(ui, request, language)}
<p><a href="${sessionUrl(session.session_id)}">${t(language, 'chat.backToSession')}</a></p>`;
      if (!member) {
        const main = html`${back}<h2>${t(language, 'member.notFound')}</h2><p>${t(language, 'chat.noAiMember', { name })}</p>`;
        return sendPage(reply, 404, page(language, t(language, 'member.notFound'), main, request));
      }
      const { messages } = await store.readMessages(session.session_id, { limit: contextMessages, order: 'desc' });
      const context = buildContext(member as never, messages, { maxChars: contextChars });
      const main = html`${back}
<h2>${t(language, 'chat.contextOf', { name: member.name })}</h2>
<p>${t(language, 'chat.contextText', { messages: contextMessages, chars: contextChars })}</p>
<dl class="fields"><dt>${t(language, 'field.llm_model')}</dt><dd>${context.model}</dd>
<dt>${t(language, 'field.system_prompt')}</dt><dd class="long">${context.system}</dd></dl>
${
  context.messages.length === 0
    ? html`<p>${t(language, 'chat.noMessages')}</p>`
    : html`<ol class="transcript">
${context.messages.map(
  (turn) => html`<li class="${turn.role === 'assistant' ? 'ai' : 'human'}"><p class="speaker">${turn.role}</p><div class="content">${turn.content}</div></li>
`,
)}</ol>`
}`;
      return sendPage(reply, 200, page(language, t(language, 'chat.contextOf', { name: member.name }), main, request));
    });
  };
}

/** The speakers of a session who are AI members of the registry: each has a context preview. */
async function aiMembersAmong(app: AppContext, speakers: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of speakers) if (await getMember(app.db, 'virtual', name)) found.push(name);
  return found;
}

/** One message of a transcript: who said it (human or AI), when, with which model and tokens; its text with line breaks kept (by the stylesheet). */
function messageItem(language: Language, message: ChatMessage): Html {
  const tokens =
    message.input_tokens !== undefined || message.output_tokens !== undefined
      ? t(language, 'chat.tokens', { input: message.input_tokens ?? '–', output: message.output_tokens ?? '–' })
      : undefined;
  return html`<li class="${message.speaker_type === 'virtual' ? 'ai' : 'human'}"><p class="speaker"><strong>${message.speaker_name}</strong> <span class="kind">${t(language, message.speaker_type === 'virtual' ? 'kind.virtual' : 'kind.human')}</span> ${at(message.timestamp)}${message.llm_model ? html` <span class="model">${message.llm_model}</span>` : ''}${tokens ? html` <span class="tokens">${tokens}</span>` : ''}</p><div class="content">${message.content}</div></li>
`;
}
