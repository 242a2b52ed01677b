import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import type { MemberKind } from '../../members/schema.js';
import { getMember, listMembers } from '../../registry/read.js';
import { similarNames } from '../../registry/similarNames.js';
import type { AppContext } from '../context.js';
import { HttpError } from '../errors.js';
import { decodeCursor, encodeCursor, errorSchema, humanRecordSchema, nextCursor, pageQuery, textParam, virtualRecordSchema } from '../schemas.js';

const routes = [
  { kind: 'human' as const, record: humanRecordSchema, tag: 'skill', tagHelp: 'A skill the member lists (case-insensitive)' },
  { kind: 'virtual' as const, record: virtualRecordSchema, tag: 'expertise', tagHelp: 'An expertise area the member lists (case-insensitive)' },
];

export function memberRoutes(app: AppContext): FastifyPluginAsyncZod {
  return async (fastify) => {
    for (const { kind, record, tag, tagHelp } of routes) {
      const label = kind === 'human' ? 'human members' : 'AI members';
      fastify.get(
        `/api/members/${kind}`,
        {
          config: { access: 'read' },
          schema: {
            tags: ['members'],
            summary: `List ${label}, by name`,
            querystring: z.object({
              q: textParam().optional().describe('Part of the name (case-insensitive)'),
              role: textParam().optional().describe('The role, exactly (case-insensitive)'),
              [tag]: textParam().optional().describe(tagHelp),
              ...pageQuery,
            }),
            response: { 200: z.object({ members: z.array(record), next_cursor: nextCursor }), 400: errorSchema },
          },
        },
        async (request) => {
          const query = request.query as { q?: string; role?: string; limit: number; cursor?: string } & Record<string, string | undefined>;
          const rows = await listMembers(app.db, kind, {
            ...(query.q ? { q: query.q } : {}),
            ...(query.role ? { role: query.role } : {}),
            ...(query[tag] ? { tag: query[tag] } : {}),
            ...(query.cursor ? { after: decodeCursor(query.cursor) } : {}),
            limit: query.limit + 1,
          });
          const page = rows.slice(0, query.limit);
          return { members: page as never[], next_cursor: rows.length > query.limit ? encodeCursor(page.at(-1)!.name) : null };
        },
      );

      fastify.get(
        `/api/members/${kind}/:name`,
        {
          config: { access: 'read' },
          schema: {
            tags: ['members'],
            summary: `One of the ${label}, with every column`,
            params: z.object({ name: textParam() }),
            response: { 200: record, 400: errorSchema, 404: errorSchema },
          },
        },
        async (request) => {
          const member = await getMember(app.db, kind as MemberKind, request.params.name);
          if (member) return member as never;
          const similar = await similarNames(app.db, kind, request.params.name);
          const suggestion =
            similar.length > 0 ? ` (did you mean ${similar.slice(0, -1).join(', ')}${similar.length > 1 ? ' or ' : ''}${similar.at(-1)}?)` : '';
          throw new HttpError(404, 'not_found', `no ${kind === 'human' ? 'human' : 'AI'} member named "${request.params.name}"${suggestion}`);
        },
      );
    }
  };
}
