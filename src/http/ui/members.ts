import type { FastifyInstance, FastifyRequest } from 'fastify';
import { localTime } from '../../localTime.js';
import type { MemberIssue } from '../../members/issues.js';
import type { MemberKind } from '../../members/schema.js';
import { browseTeam, fileProblems, getMember, type MemberRecord, type TeamQuery } from '../../registry/read.js';
import type { AppContext } from '../context.js';
import { type Html, html } from './html.js';
import { type Language, languageOf, t } from './i18n.js';
import type { Session } from './session.js';
import { page, sendPage, type UiAuth } from './signin.js';

/** Members on one page of the team list. */
export const teamPageSize = 50;

/** Beyond any team: a larger page number in a URL is read as this one. */
const lastPageNumber = 1_000_000;

/** The list's query parameters, as the GET form and the links carry them. */
const filterNames = ['q', 'role', 'skill', 'expertise', 'model'] as const;

interface TeamParams extends Omit<TeamQuery, 'limit' | 'offset'> {
  page: number;
}

/** The list's query parameters from the URL: anything unknown or malformed is left out, never an error page. */
function teamParams(query: Record<string, unknown>): TeamParams {
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 255) : undefined);
  const params: TeamParams = { sort: query.sort === 'updated' ? 'updated' : 'name', page: 1 };
  if (query.kind === 'human' || query.kind === 'virtual') params.kind = query.kind;
  for (const name of filterNames) {
    const value = text(query[name]);
    if (value !== undefined) params[name] = value;
  }
  const pageNumber = Number(query.page);
  if (Number.isInteger(pageNumber) && pageNumber > 1) params.page = Math.min(pageNumber, lastPageNumber);
  return params;
}

/** The list's URL with these parameters: defaults left out, so that links stay short. */
function teamUrl(params: TeamParams): string {
  const search = new URLSearchParams();
  if (params.kind) search.set('kind', params.kind);
  for (const name of filterNames) if (params[name] !== undefined) search.set(name, params[name]);
  if (params.sort !== 'name') search.set('sort', params.sort);
  if (params.page > 1) search.set('page', String(params.page));
  const text = search.toString();
  return text ? `/?${text}` : '/';
}

export const memberUrl = (kind: MemberKind, name: string) => `/members/${kind}/${encodeURIComponent(name)}`;

/** A timestamp of the database (ISO 8601, UTC) as people read it: to the minute, in the service's time zone (TZ), with its offset. */
export const when = (iso: string) => html`<time datetime="${iso}">${localTime(iso, { seconds: false })}</time>`;

const kindLabel = (language: Language, kind: MemberKind) => t(language, kind === 'human' ? 'kind.human' : 'kind.virtual');

/** Who is signed in, and the sign-out form (with the session's CSRF token): on every page behind the sign-in. */
export async function accountBar(ui: UiAuth, request: FastifyRequest, language: Language): Promise<Html> {
  const session = request.session as Session;
  const csrf = await ui.sessions.csrfToken(session);
  return html`<nav class="sections"><a href="/">${t(language, 'team.title')}</a> <a href="/sync">${t(language, 'syncPage.title')}</a> <a href="/chat">${t(language, 'chat.title')}</a></nav>
<div class="account"><p>${t(language, 'home.signedInAs', { name: session.principal.name, role: t(language, session.role === 'admin' ? 'role.admin' : 'role.viewer') })}</p>
<form method="post" action="/signout"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit">${t(language, 'signout.submit')}</button></form></div>`;
}

/** The team at a glance (/) and a member's page (/members/KIND/NAME): read-only, from the registry's own queries. */
export function memberPages(app: AppContext, ui: UiAuth) {
  return async function members(fastify: FastifyInstance) {
    fastify.get('/', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      const params = teamParams(request.query as Record<string, unknown>);
      const { rows, total } = await browseTeam(app.db, { ...params, limit: teamPageSize, offset: (params.page - 1) * teamPageSize });
      const pages = Math.max(1, Math.ceil(total / teamPageSize));
      const isAdmin = (request.session as Session).role === 'admin';
      // After a delete from the web UI (ui/edit.ts), the list says whose file went: only with the
      // proof that this service said so to this session, not for a link anyone can make.
      const { deleted: deletedParam, proof } = request.query as { deleted?: unknown; proof?: unknown };
      const deleted =
        typeof deletedParam === 'string' && (await ui.sessions.proves(request.session as Session, `deleted:${deletedParam}`, proof)) ? deletedParam : undefined;
      const tab = (kind: MemberKind | undefined, label: string) => {
        const { kind: _kind, ...rest } = params;
        const url = teamUrl({ ...rest, ...(kind ? { kind } : {}), page: 1 });
        return html`<li><a href="${url}"${params.kind === kind ? html` aria-current="page"` : ''}>${label}</a></li>`;
      };
      const field = (name: (typeof filterNames)[number], label: string, type = 'text') =>
        html`<label>${label} <input name="${name}" type="${type}" value="${params[name] ?? ''}"></label>`;
      const sortOption = (value: TeamParams['sort'], label: string) =>
        html`<option value="${value}"${params.sort === value ? html` selected` : ''}>${label}</option>`;
      const main = html`${await accountBar(ui, request, language)}
<h2>${t(language, 'team.title')}</h2>
<nav aria-label="${t(language, 'team.kinds')}"><ul class="tabs">${tab(undefined, t(language, 'team.all'))}${tab('human', t(language, 'team.humans'))}${tab('virtual', t(language, 'team.virtuals'))}</ul></nav>
<form class="filters" method="get" action="/" role="search">
${params.kind ? html`<input type="hidden" name="kind" value="${params.kind}">` : ''}
${field('q', t(language, 'team.search'), 'search')}
${field('role', t(language, 'field.role'))}
${field('skill', t(language, 'field.skills'))}
${field('expertise', t(language, 'field.expertise_areas'))}
${field('model', t(language, 'field.llm_model'))}
<label>${t(language, 'team.sort')} <select name="sort">${sortOption('name', t(language, 'team.sortName'))}${sortOption('updated', t(language, 'team.sortUpdated'))}</select></label>
<div class="actions"><button type="submit">${t(language, 'team.apply')}</button> <a href="${teamUrl({ ...(params.kind ? { kind: params.kind } : {}), sort: 'name', page: 1 })}">${t(language, 'team.clear')}</a></div>
</form>
${deleted ? html`<p class="message notice" role="status">${t(language, 'edit.deleted', { name: deleted })}</p>` : ''}
${isAdmin ? html`<ul class="tabs actions"><li><a href="/members/new?kind=human">${t(language, 'edit.newHuman')}</a></li><li><a href="/members/new?kind=virtual">${t(language, 'edit.newVirtual')}</a></li></ul>` : ''}
<p role="status">${t(language, 'team.count', { count: total })}</p>
${
  rows.length === 0
    ? html`<p>${t(language, 'team.none')}</p>`
    : html`<div class="scroll"><table>
<thead><tr><th scope="col">${t(language, 'field.name')}</th><th scope="col">${t(language, 'team.kind')}</th><th scope="col">${t(language, 'field.role')}</th><th scope="col">${t(language, 'team.tags')}</th><th scope="col">${t(language, 'field.llm_model')}</th><th scope="col">${t(language, 'field.file_uri')}</th><th scope="col">${t(language, 'field.updated_at')}</th></tr></thead>
<tbody>
${rows.map(
  (
    row,
  ) => html`<tr><td><a href="${memberUrl(row.kind, row.name)}">${row.name}</a>${row.file_invalid ? html` <span class="badge">${t(language, 'sync.invalidShort')}</span>` : ''}</td><td class="kind">${kindLabel(language, row.kind)}</td><td>${row.role}</td><td>${(row.tags ?? []).join(', ')}</td><td>${row.llm_model}</td><td class="file">${row.file_uri}</td><td>${when(row.updated_at)}</td></tr>
`,
)}</tbody>
</table></div>`
}
${
  pages > 1
    ? html`<nav class="pages" aria-label="${t(language, 'team.pages')}">
${params.page > 1 ? html`<a href="${teamUrl({ ...params, page: params.page - 1 })}" rel="prev">${t(language, 'team.prev')}</a>` : ''}
<span>${t(language, 'team.page', { page: params.page, pages })}</span>
${params.page < pages ? html`<a href="${teamUrl({ ...params, page: params.page + 1 })}" rel="next">${t(language, 'team.next')}</a>` : ''}
</nav>`
    : ''
}`;
      return sendPage(reply, 200, page(language, t(language, 'team.title'), main, request));
    });

    fastify.get('/members/:kind/:name', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      const { kind, name } = request.params as { kind: string; name: string };
      const member = kind === 'human' || kind === 'virtual' ? await getMember(app.db, kind, name) : undefined;
      const back = html`<p><a href="/">${t(language, 'member.back')}</a></p>`;
      if (!member) {
        const main = html`${back}<h2>${t(language, 'member.notFound')}</h2><p>${t(language, 'member.notFoundText', { name })}</p>`;
        return sendPage(reply, 404, page(language, t(language, 'member.notFound'), main, request));
      }
      const memberKind = kind as MemberKind;
      const problems = member.file_uri ? await fileProblems(app.db, member.file_uri) : [];
      // After a save from the web UI (ui/edit.ts): what became of it, over the member as registered now.
      const saved = (request.query as { saved?: unknown }).saved;
      const url = memberUrl(memberKind, member.name);
      const main = html`${await accountBar(ui, request, language)}
${back}
${(saved === 'created' || saved === 'updated' || saved === 'unchanged') && member.file_uri ? html`<p class="message notice" role="status">${t(language, `edit.saved.${saved}`, { file: member.file_uri })}</p>` : ''}
<h2>${member.name} <small>${kindLabel(language, memberKind)}</small></h2>
${(request.session as Session).role === 'admin' && member.file_uri ? html`<ul class="tabs actions"><li><a href="${url}/edit">${t(language, 'edit.edit')}</a></li><li><a href="${url}/delete">${t(language, 'edit.delete')}</a></li></ul>` : ''}
${problems.length > 0 ? problemsSection(language, problems) : ''}
<dl class="fields">
${fieldsOf(memberKind).map(
  (
    column,
  ) => html`<dt>${t(language, `field.${column}`)}</dt><dd${column === 'system_prompt' || column === 'bio' ? html` class="long"` : ''}>${shownValue(member, column)}</dd>
`,
)}<dt>${t(language, 'field.file_uri')}</dt><dd class="file">${member.file_uri ?? t(language, 'member.noFile')}</dd>
<dt>${t(language, 'field.created_at')}</dt><dd>${when(member.created_at)}</dd>
<dt>${t(language, 'field.updated_at')}</dt><dd>${when(member.updated_at)}</dd>
<dt>${t(language, 'sync.state')}</dt><dd>${!member.file_uri ? t(language, 'sync.noFile') : problems.length > 0 ? html`<span class="badge">${t(language, 'sync.invalidShort')}</span>` : t(language, 'sync.registered')}</dd>
</dl>`;
      return sendPage(reply, 200, page(language, member.name, main, request));
    });
  };
}

/** The columns a member's page shows, in the order of its file (the file, times and sync state follow). */
function fieldsOf(kind: MemberKind) {
  return kind === 'human'
    ? (['role', 'skills', 'bio', 'contact_email', 'github_username'] as const)
    : (['role', 'llm_model', 'system_prompt', 'personality_traits', 'expertise_areas'] as const);
}

function shownValue(member: MemberRecord, column: string): Html | string {
  const value = member[column];
  if (Array.isArray(value)) return value.length === 0 ? '' : html`<ul class="tags">${value.map((item) => html`<li>${String(item)}</li>`)}</ul>`;
  return value === null || value === undefined ? '' : String(value);
}

/** A file that changed into an invalid one: its problems, each at its line and column, above the last good data. */
function problemsSection(language: Language, problems: MemberIssue[]): Html {
  return html`<section class="message" role="alert">
<h3>${t(language, 'sync.invalidTitle')}</h3>
<p>${t(language, 'sync.invalidText')}</p>
<ul class="problems">${problems.map(problemItem)}</ul>
</section>`;
}

/** One problem of a file: where it is (file:line:column, the field), what it is, and how to fix it. */
export function problemItem(problem: MemberIssue): Html {
  return html`<li><code>${problem.file}${problem.line !== undefined ? `:${problem.line}${problem.column !== undefined ? `:${problem.column}` : ''}` : ''}</code>${problem.field ? html` <code>${problem.field}</code>` : ''} ${problem.message}${problem.hint ? html` <span class="hint">${problem.hint}</span>` : ''}</li>`;
}
