import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { buildContext } from '../../chatlog/context.js';
import { exportSession } from '../../chatlog/export.js';
import type { ValidMessage } from '../../chatlog/messages.js';
import { discordIdSchema, discordSessionId, epochMsSchema, messageInputSchema, messageSchema, sessionIdSchema, sessionSchema } from '../../chatlog/schema.js';
import type { ChatStore } from '../../chatlog/store.js';
import { getMember } from '../../registry/read.js';
import type { AppContext } from '../context.js';
import { HttpError } from '../errors.js';
import { errorSchema, nextCursor, textParam } from '../schemas.js';

const idParams = z.object({ id: sessionIdSchema });

/** Chat logs (D11, D12): messages, sessions, and the context an AI member answers from. */
export function chatRoutes(app: AppContext): FastifyPluginAsyncZod {
  const store = (): ChatStore => {
    if (!app.chat) throw new HttpError(503, 'unavailable', 'the chat log store is not configured');
    return app.chat;
  };
  return async (fastify) => {
    fastify.post(
      '/api/chat/sessions',
      {
        config: { access: 'chat' },
        schema: {
          tags: ['chat'],
          summary: 'Start or continue a session (idempotent); a Discord channel or thread maps to its own session',
          body: z.object({ session_id: sessionIdSchema.optional(), channel_id: discordIdSchema.optional(), thread_id: discordIdSchema.optional() }),
          response: { 200: sessionSchema, 400: errorSchema, 409: errorSchema, 503: errorSchema },
        },
      },
      async (request) => {
        const { session_id, channel_id, thread_id } = request.body;
        const id = session_id ?? (channel_id ? discordSessionId(channel_id, thread_id) : undefined);
        if (!id) throw new HttpError(400, 'bad_request', 'give session_id, or channel_id (and thread_id) of a Discord conversation');
        const usable = sessionIdSchema.safeParse(id);
        if (!usable.success)
          throw new HttpError(400, 'bad_request', `the session id ${JSON.stringify(id)} would be unusable: ${usable.error.issues[0]?.message}`);
        return store().startSession(id, { ...(channel_id ? { channel_id } : {}), ...(thread_id ? { thread_id } : {}) });
      },
    );

    fastify.post(
      '/api/chat/sessions/:id/messages',
      {
        config: { access: 'chat' },
        schema: {
          tags: ['chat'],
          summary: 'Append one message, or {"messages": [...]}; a repeated Discord message_id stores nothing new',
          params: idParams,
          // Both shapes strict: a refusal names the problems of the shape the body's keys say it meant.
          body: z.union([messageInputSchema, z.strictObject({ messages: z.array(messageInputSchema).min(1).max(100) })]),
          response: {
            201: z.object({ session_id: z.string(), messages: z.array(messageSchema.extend({ duplicate: z.boolean().optional() })) }),
            400: errorSchema,
            409: errorSchema,
            413: errorSchema,
            503: errorSchema,
          },
        },
      },
      async (request, reply) => {
        // Validated by the route schema on the way in.
        const body = request.body as ValidMessage | { messages: ValidMessage[] };
        const result = await store().append(request.params.id, 'messages' in body ? body.messages : [body]);
        return reply.code(201).send({ session_id: result.session, messages: result.messages });
      },
    );

    fastify.get(
      '/api/chat/sessions/:id/messages',
      {
        config: { access: 'read' },
        schema: {
          tags: ['chat'],
          summary: 'Messages of a session, a page at a time',
          params: idParams,
          querystring: z.object({
            limit: z.coerce.number().int().min(1).max(500).default(50),
            before: z.coerce.number().pipe(epochMsSchema).optional().describe('Only messages before this epoch millisecond'),
            after: z.coerce.number().pipe(epochMsSchema).optional().describe('Only messages after this epoch millisecond'),
            order: z.enum(['asc', 'desc']).default('asc'),
            cursor: z.string().optional(),
          }),
          response: { 200: z.object({ messages: z.array(messageSchema), next_cursor: nextCursor }), 400: errorSchema, 503: errorSchema },
        },
      },
      async (request) => {
        const { limit, before, after, order, cursor } = request.query;
        return store().readMessages(request.params.id, {
          limit,
          order,
          ...(before !== undefined ? { before } : {}),
          ...(after !== undefined ? { after } : {}),
          ...(cursor ? { cursor } : {}),
        });
      },
    );

    fastify.get(
      '/api/chat/sessions',
      {
        config: { access: 'read' },
        schema: {
          tags: ['chat'],
          summary: 'Sessions of a channel or of a member (or all), the most recent activity first',
          querystring: z.object({
            channel_id: z.string().optional(),
            member: z.string().optional().describe('A speaker name'),
            limit: z.coerce.number().int().min(1).max(500).default(50),
            cursor: z.string().optional(),
          }),
          response: { 200: z.object({ sessions: z.array(sessionSchema), next_cursor: nextCursor }), 400: errorSchema, 503: errorSchema },
        },
      },
      async (request) => {
        const { channel_id, member, limit, cursor } = request.query;
        return store().listSessions({ ...(channel_id ? { channel_id } : {}), ...(member ? { member } : {}) }, { limit, ...(cursor ? { cursor } : {}) });
      },
    );

    fastify.get(
      '/api/chat/sessions/:id',
      {
        config: { access: 'read' },
        schema: { tags: ['chat'], summary: 'One session', params: idParams, response: { 200: sessionSchema, 404: errorSchema, 503: errorSchema } },
      },
      async (request) => {
        const session = await store().getSession(request.params.id);
        if (!session) throw new HttpError(404, 'not_found', `no session ${request.params.id}`);
        return session;
      },
    );

    fastify.post(
      '/api/chat/sessions/:id/close',
      {
        config: { access: 'chat' },
        schema: {
          tags: ['chat'],
          summary: 'Close a session: no more messages',
          params: idParams,
          response: { 200: sessionSchema, 404: errorSchema, 503: errorSchema },
        },
      },
      async (request) => {
        const session = await store().closeSession(request.params.id);
        if (!session) throw new HttpError(404, 'not_found', `no session ${request.params.id}`);
        return session;
      },
    );

    fastify.delete(
      '/api/chat/sessions/:id',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['chat'],
          summary: 'Delete a session with all its messages',
          params: idParams,
          response: { 200: z.object({ session_id: z.string(), deleted_messages: z.number() }), 404: errorSchema, 503: errorSchema },
        },
      },
      async (request) => {
        const deleted = await store().deleteSession(request.params.id);
        if (deleted === undefined) throw new HttpError(404, 'not_found', `no session ${request.params.id}`);
        return { session_id: request.params.id, deleted_messages: deleted };
      },
    );

    fastify.get(
      '/api/chat/sessions/:id/export',
      {
        config: { access: 'read' },
        schema: {
          tags: ['chat'],
          summary: 'A whole session as JSON Lines or Markdown',
          params: idParams,
          querystring: z.object({ format: z.enum(['jsonl', 'md']).default('jsonl') }),
        },
      },
      async (request, reply) => {
        const session = await store().getSession(request.params.id);
        if (!session) throw new HttpError(404, 'not_found', `no session ${request.params.id}`);
        const { format } = request.query;
        reply.type(format === 'md' ? 'text/markdown; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
        // A download, never a page the browser renders in this origin; the name in ASCII only.
        reply.header('content-disposition', `attachment; filename="${session.session_id.replace(/[^A-Za-z0-9._-]/g, '_')}.${format}"`);
        return reply.send(Readable.from(exportSession(session, store().allMessages(session.session_id), format)));
      },
    );

    fastify.get(
      '/api/members/virtual/:name/context',
      {
        config: { access: 'read' },
        schema: {
          tags: ['chat'],
          summary: 'What an AI member needs to answer in a session: its model, its system prompt, the latest turns (oldest first)',
          params: z.object({ name: textParam() }),
          querystring: z.object({
            session_id: sessionIdSchema,
            max_messages: z.coerce.number().int().min(1).max(500).default(30),
            max_chars: z.coerce.number().int().min(1).max(1_000_000).default(12_000),
          }),
          response: {
            200: z.object({ model: z.string(), system: z.string(), messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content: z.string() })) }),
            400: errorSchema,
            404: errorSchema,
            503: errorSchema,
          },
        },
      },
      async (request) => {
        const member = await getMember(app.db, 'virtual', request.params.name);
        if (!member) throw new HttpError(404, 'not_found', `no AI member named "${request.params.name}"`);
        const { messages } = await store().readMessages(request.query.session_id, { limit: request.query.max_messages, order: 'desc' });
        return buildContext(member as never, messages, { maxChars: request.query.max_chars });
      },
    );
  };
}
