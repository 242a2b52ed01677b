import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { countMembers } from '../../registry/read.js';
import { countInvalidFiles, listInvalidFiles } from '../../registry/sql/memberFiles.js';
import { lastSyncRun } from '../../registry/sql/syncRuns.js';
import type { SyncReport, SyncSummary } from '../../sync/reconcile.js';
import type { AppContext } from '../context.js';
import { publicMessage } from '../errors.js';
import { decodeCursor, encodeCursor } from '../schemas.js';
import { html } from './html.js';
import { languageOf, t } from './i18n.js';
import { accountBar, memberUrl, problemItem, when } from './members.js';
import type { Session } from './session.js';
import { acceptForms, formsNeedASession, page, sendPage, type UiAuth } from './signin.js';

/** Invalid files on one page of the sync page, as /api/sync/errors pages them by default. */
export const invalidPageSize = 50;

/** Changes of the run asked for here that the page lists; the rest are only counted. */
export const shownChanges = 20;

/**
 * How long "sync now" waits for its run before answering: a run done by then shows its report at
 * once; a longer one (a large bucket) shows its progress on the page until it ends.
 */
export const syncNowPatienceMs = 2000;

/** Members a run changed: its report lists only the first ones (maxReportedChanges), its counts are whole. */
const changedCount = ({ created, updated, deleted }: SyncSummary) => created + updated + deleted;

const countsOf = ({ created, updated, unchanged, deleted, invalid }: SyncSummary) => ({ created, updated, unchanged, deleted, invalid });

/**
 * The sync page (/sync): the last sync, member counts, invalid files with their problems, the last
 * reconcile failure; for an admin, "sync now", which runs the reconciler as POST /api/sync does.
 */
export function syncPage(app: AppContext, ui: UiAuth) {
  return async function sync(fastify: FastifyInstance) {
    acceptForms(fastify);
    formsNeedASession(fastify);
    /** The report of the last run asked for on this page, shown once the browser comes back to it (?ran=1). */
    let askedRun: SyncReport | undefined;

    fastify.get('/sync', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      const query = request.query as { cursor?: unknown; ran?: unknown };
      // A cursor not handed out by this page starts from the first invalid file, never an error page.
      let after: string | undefined;
      try {
        after = decodeCursor(typeof query.cursor === 'string' ? query.cursor : undefined);
      } catch {
        after = undefined;
      }
      const [run, counts, invalidCount, rows] = await Promise.all([
        lastSyncRun(app.db),
        countMembers(app.db),
        countInvalidFiles(app.db),
        listInvalidFiles(app.db, { after, limit: invalidPageSize + 1 }),
      ]);
      const invalid = rows.slice(0, invalidPageSize);
      const next = rows.length > invalidPageSize ? encodeCursor(invalid.at(-1)!.file_uri) : undefined;
      const session = request.session as Session;
      const reconciler = app.reconciler;
      const shown = query.ran === '1' ? askedRun : undefined;
      const runningNote = (progress: { done: number; listed: number } | undefined, reload: string) =>
        html`<p class="message" role="status">${t(language, 'syncPage.running')}${progress ? html` <progress value="${progress.done}" max="${Math.max(progress.listed, 1)}"></progress> ${t(language, 'syncPage.progress', { done: progress.done.toLocaleString('en-US'), listed: progress.listed.toLocaleString('en-US') })}` : ''} <a href="${reload}">${t(language, 'syncPage.reload')}</a></p>`;
      const main = html`${await accountBar(ui, request, language)}
<p><a href="/">${t(language, 'member.back')}</a></p>
<h2>${t(language, 'syncPage.title')}</h2>
${reconciler?.isRunning ? runningNote(reconciler.progress, query.ran === '1' ? '/sync?ran=1' : '/sync') : ''}
${reconciler && reconciler.lastError !== undefined ? html`<p class="message" role="alert">${t(language, 'syncPage.failed', { message: publicMessage(reconciler.lastError) })}</p>` : ''}
${
  shown
    ? html`<section class="message" role="status"><h3>${t(language, 'syncPage.done')}</h3>
<p>${t(language, 'syncPage.summary', { ...countsOf(shown), ms: shown.durationMs })}</p>
${shown.changes.length > 0 ? html`<ul class="changes">${shown.changes.slice(0, shownChanges).map((change) => html`<li>${t(language, `syncPage.action.${change.action as 'created' | 'updated' | 'deleted'}`)} ${change.name && change.action !== 'deleted' ? html`<a href="${memberUrl(change.kind, change.name)}">${change.name}</a>` : (change.name ?? '')} <code>${change.file_uri}</code></li>`)}</ul>` : ''}
${changedCount(shown) > shownChanges ? html`<p>${t(language, 'syncPage.moreChanges', { count: changedCount(shown) - shownChanges })}</p>` : ''}
</section>`
    : ''
}
<h3>${t(language, 'syncPage.last')}</h3>
${
  run
    ? html`<dl class="fields">
<dt>${t(language, 'syncPage.trigger')}</dt><dd>${run.trigger}</dd>
<dt>${t(language, 'syncPage.started')}</dt><dd>${when(run.started_at)}</dd>
<dt>${t(language, 'syncPage.finished')}</dt><dd>${when(run.finished_at)}</dd>
<dt>${t(language, 'syncPage.counts')}</dt><dd>${t(language, 'syncPage.runCounts', countsOf(run))}</dd>
</dl>`
    : html`<p>${t(language, 'syncPage.never')}</p>`
}
<h3>${t(language, 'syncPage.members')}</h3>
<p>${t(language, 'syncPage.memberCounts', { human: counts.human, virtual: counts.virtual })}</p>
${
  session.role === 'admin' && reconciler
    ? html`<form method="post" action="/sync"><input type="hidden" name="_csrf" value="${await ui.sessions.csrfToken(session)}"><button type="submit">${t(language, 'syncPage.now')}</button></form>`
    : ''
}
<h3>${t(language, 'syncPage.invalid', { count: invalidCount })}</h3>
${
  invalid.length === 0
    ? html`<p>${t(language, 'syncPage.noInvalid')}</p>`
    : html`<ul class="invalid">${invalid.map(
        (file) => html`<li><code class="file">${file.file_uri}</code> ${when(file.checked_at)}<ul class="problems">${file.errors.map(problemItem)}</ul></li>
`,
      )}</ul>`
}
${
  after !== undefined || next
    ? html`<nav class="pages" aria-label="${t(language, 'team.pages')}">
${after !== undefined ? html`<a href="/sync">${t(language, 'syncPage.first')}</a>` : ''}
${next ? html`<a href="/sync?cursor=${next}" rel="next">${t(language, 'team.next')}</a>` : ''}
</nav>`
    : ''
}`;
      return sendPage(reply, 200, page(language, t(language, 'syncPage.title'), main, request));
    });

    fastify.post('/sync', { config: { access: 'admin' } }, async (request, reply) => {
      let outcome: 'done' | 'failed' | 'running' = 'failed';
      if (app.reconciler) {
        askedRun = undefined;
        // A failed run is told on the page (the reconciler keeps its error): the browser comes back either way.
        const finished = app.reconciler.run('ui').then(
          (report): 'done' => {
            askedRun = report;
            return 'done';
          },
          (error: unknown): 'failed' => {
            request.log.warn({ err: error }, 'sync asked for on the sync page failed');
            return 'failed';
          },
        );
        outcome = await Promise.race([finished, sleep(syncNowPatienceMs, 'running' as const, { ref: false })]);
      }
      // Still running: the page shows its progress, then (reloaded) its report.
      return reply
        .code(303)
        .header('location', outcome === 'failed' ? '/sync' : '/sync?ran=1')
        .send();
    });
  };
}
