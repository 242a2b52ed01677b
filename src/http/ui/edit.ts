import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { editableFields, editMemberFile, NotEditableError, newMemberFile } from '../../members/editFile.js';
import type { MemberIssue } from '../../members/issues.js';
import { defaultLimits } from '../../members/parse.js';
import { memberFolderOf, memberKindOf, unusableKey } from '../../members/paths.js';
import type { MemberKind } from '../../members/schema.js';
import { getMember } from '../../registry/read.js';
import {
  createMemberFile,
  deleteMemberFile,
  type MemberWriter,
  readMemberText,
  type SaveResult,
  type StoredText,
  saveMemberFile,
} from '../../sync/memberWrites.js';
import type { AppContext } from '../context.js';
import { html } from './html.js';
import { type Language, languageOf, t } from './i18n.js';
import { byField, type FormValues, fieldInput, fieldValues, formValues, lines, nameIn, problemText, textOf, valuesOf } from './memberForm.js';
import { accountBar, memberUrl } from './members.js';
import type { Session } from './session.js';
import { acceptForms, formsNeedASession, page, sendPage, type UiAuth } from './signin.js';

/** What an editor page shows: the form (unless the file is no mapping of fields), the raw YAML, and the problems found. */
interface Editor {
  kind: MemberKind;
  /** Undefined when the form cannot read the file: only the YAML editor is offered. */
  values: FormValues | undefined;
  yaml: string;
  /** Editing: the file and the version the page was made from. Creating: neither. */
  file?: string;
  version?: string;
  fieldProblems?: Map<string, MemberIssue[]>;
  /** Problems of the YAML editor's text, at their lines and columns; of the form, those no field shows. */
  problems?: MemberIssue[];
  message?: string;
}

/**
 * Whether a posted `file` field (hidden, but a crafted form may hold anything) is a member file of
 * the URL's kind, as storage lists them: plain names between slashes, no empty, `.` or `..` part.
 */
function formNamesMemberFile(kind: string, file: string): kind is MemberKind {
  if ((kind !== 'human' && kind !== 'virtual') || memberKindOf(file) !== kind || unusableKey(file)) return false;
  return file.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/**
 * Creating, editing and deleting members from the web UI (/members/new, /members/KIND/NAME/edit,
 * /members/KIND/NAME/delete): each change is written to the member's file in storage, after the
 * registry's validation, and registered by the registrar, as a storage event would be
 * (`sync/memberWrites.ts`); the browser then sees the registered member, or the refusal in words.
 * The pages are an administrator's: a viewer gets 403, and the POSTs need the admin scope and
 * the session's CSRF token (access.ts).
 */
export function editPages(app: AppContext, ui: UiAuth) {
  const writer: MemberWriter = { db: app.db, storage: app.storage, registrar: app.registrar, limits: { ...defaultLimits, maxBytes: app.config.maxFileBytes } };

  return async function edit(fastify: FastifyInstance) {
    acceptForms(fastify);
    formsNeedASession(fastify);

    /** The page of an editor, create or edit. */
    const editorPage = async (
      request: FastifyRequest,
      language: Language,
      status: number,
      reply: FastifyReply,
      editor: Editor,
      title: string,
      action: string,
      back: string,
    ) => {
      const csrf = await ui.sessions.csrfToken(request.session as Session);
      const creating = editor.file === undefined;
      const hidden = html`<input type="hidden" name="_csrf" value="${csrf}">${creating ? html`<input type="hidden" name="kind" value="${editor.kind}">` : html`<input type="hidden" name="file" value="${editor.file}"><input type="hidden" name="version" value="${editor.version}">`}`;
      const main = html`${await accountBar(ui, request, language)}
<p><a href="${back}">${t(language, 'member.back')}</a></p>
<h2>${title}</h2>
${editor.message ? html`<p class="message" role="alert">${editor.message}</p>` : ''}
<p>${creating ? t(language, 'edit.newFileNote', { folder: memberFolderOf[editor.kind] }) : t(language, 'edit.fileNote', { file: editor.file! })}</p>
<section aria-labelledby="form-heading"><h3 id="form-heading">${t(language, 'edit.form')}</h3>
${
  editor.values
    ? html`<form class="member" method="post" action="${action}" novalidate>${hidden}<input type="hidden" name="mode" value="form">
${editableFields[editor.kind].map((field) => fieldInput(language, field, editor.values![field] ?? '', editor.fieldProblems?.get(field) ?? []))}
<button type="submit">${t(language, creating ? 'edit.create' : 'edit.save')}</button>
</form>`
    : html`<p>${t(language, 'edit.notEditable')}</p>`
}
</section>
<section aria-labelledby="yaml-heading"><h3 id="yaml-heading">${t(language, 'edit.yamlEditor')}</h3>
<p>${t(language, 'edit.yamlIntro')}</p>
${editor.problems && editor.problems.length > 0 ? html`<div class="problems" role="alert"><p>${t(language, 'edit.yamlProblems')}</p><ul id="yaml-problems" class="problems">${editor.problems.map((problem) => problemText(language, problem))}</ul></div>` : ''}
<form class="member" method="post" action="${action}">${hidden}<input type="hidden" name="mode" value="yaml">
<label for="yaml">${t(language, 'edit.yaml')}</label>
<textarea id="yaml" name="yaml" rows="18" spellcheck="false"${editor.problems?.length ? html` aria-invalid="true" aria-describedby="yaml-problems"` : ''}>
${editor.yaml}</textarea>
<button type="submit">${t(language, creating ? 'edit.createYaml' : 'edit.saveYaml')}</button>
</form>
</section>`;
      return sendPage(reply, status, page(language, title, main, request));
    };

    /** A page that only says something: not found, not allowed, no file. */
    const notice = async (request: FastifyRequest, reply: FastifyReply, language: Language, status: number, title: string, text: string) => {
      const main = html`<p><a href="/">${t(language, 'member.back')}</a></p><h2>${title}</h2><p class="message" role="alert">${text}</p>`;
      return sendPage(reply, status, page(language, title, main, request));
    };

    /** Viewers see no edit pages: the writes behind them are an administrator's. */
    const refusedToViewer = async (request: FastifyRequest, reply: FastifyReply, language: Language) => {
      if ((request.session as Session).role === 'admin') return false;
      await notice(request, reply, language, 403, t(language, 'edit.viewerRefused'), t(language, 'edit.viewerRefused'));
      return true;
    };

    /** Both versions side by side when storage changed under an edit, and a way to go on from either. */
    const conflictPage = async (
      request: FastifyRequest,
      reply: FastifyReply,
      language: Language,
      kind: MemberKind,
      name: string,
      found: string,
      file: string,
      yours: string | undefined,
      now: StoredText | undefined,
    ) => {
      const csrf = await ui.sessions.csrfToken(request.session as Session);
      const editUrl = `${memberUrl(kind, name)}/edit`;
      const message =
        found === 'gone'
          ? t(language, 'edit.conflictGone', { file })
          : found === 'delete'
            ? t(language, 'edit.deleteChanged', { file })
            : t(language, 'edit.conflictChanged', { file });
      const main = html`${await accountBar(ui, request, language)}
<p><a href="${memberUrl(kind, name)}">${t(language, 'member.back')}</a></p>
<h2>${t(language, 'edit.title', { name })}</h2>
<p class="message" role="alert">${message}</p>
<div class="versions">
${now ? html`<section aria-labelledby="theirs"><h3 id="theirs">${t(language, 'edit.theirs')}</h3><pre class="file">${now.text}</pre></section>` : ''}
${yours !== undefined ? html`<section aria-labelledby="yours"><h3 id="yours">${t(language, 'edit.yours')}</h3><pre class="file">${yours}</pre></section>` : ''}
</div>
${now ? html`<p><a href="${found === 'delete' ? `${memberUrl(kind, name)}/delete` : editUrl}">${t(language, 'edit.reopen')}</a></p>` : ''}
${
  now && yours !== undefined
    ? html`<form class="member" method="post" action="${editUrl}"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="file" value="${file}"><input type="hidden" name="version" value="${now.version}"><input type="hidden" name="mode" value="yaml">
<p>${t(language, 'edit.saveOver')}</p>
<label for="yaml">${t(language, 'edit.yaml')}</label>
<textarea id="yaml" name="yaml" rows="18" spellcheck="false">
${yours}</textarea>
<button type="submit">${t(language, 'edit.saveYaml')}</button>
</form>`
    : ''
}`;
      return sendPage(reply, 409, page(language, t(language, 'edit.title', { name }), main, request));
    };

    /**
     * The answer to a save: the registered member's page, or the editor again with the problems
     * (nothing written), or both versions (storage changed meanwhile), or the registry's refusal.
     */
    const answerSave = async (
      request: FastifyRequest,
      reply: FastifyReply,
      language: Language,
      result: SaveResult,
      editor: Editor,
      mode: 'form' | 'yaml',
      text: string,
      title: string,
      action: string,
      back: string,
      name: string,
    ) => {
      switch (result.status) {
        case 'invalid': {
          const shown = mode === 'form' ? byField(editor.kind, result.issues) : { fields: new Map<string, MemberIssue[]>(), rest: result.issues };
          return editorPage(
            request,
            language,
            422,
            reply,
            { ...editor, fieldProblems: shown.fields, problems: shown.rest, message: t(language, 'edit.invalid') },
            title,
            action,
            back,
          );
        }
        case 'name_taken': {
          const message = t(language, 'edit.nameTaken', { name: result.name, file: result.heldBy });
          const issue: MemberIssue = {
            file: result.key,
            field: 'name',
            code: 'name_conflict',
            message: `"${result.name}" is already the name of the member in ${result.heldBy}`,
          };
          return editorPage(request, language, 409, reply, { ...editor, fieldProblems: new Map([['name', [issue]]]), message }, title, action, back);
        }
        case 'conflict':
          if (editor.file === undefined)
            return editorPage(
              request,
              language,
              409,
              reply,
              { ...editor, message: t(language, 'edit.conflictExists', { file: result.key }) },
              title,
              action,
              back,
            );
          return conflictPage(request, reply, language, editor.kind, name, result.found, result.key, text, result.now);
        case 'written': {
          const { outcome } = result;
          if (outcome.action === 'created' || outcome.action === 'updated' || outcome.action === 'unchanged') {
            const registered = outcome.name ?? nameIn(text) ?? name;
            return reply
              .code(303)
              .header('location', `${memberUrl(editor.kind, registered)}?saved=${outcome.action}`)
              .send();
          }
          const main = html`${await accountBar(ui, request, language)}
<p><a href="${back}">${t(language, 'member.back')}</a></p>
<h2>${title}</h2>
<section class="message" role="alert"><p>${t(language, 'edit.refused', { file: result.key })}</p>
<ul class="problems">${(outcome.issues ?? []).map((problem) => problemText(language, problem))}</ul></section>`;
          return sendPage(reply, 409, page(language, title, main, request));
        }
      }
    };

    fastify.get('/members/new', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      if (await refusedToViewer(request, reply, language)) return reply;
      const kind: MemberKind = (request.query as { kind?: unknown }).kind === 'virtual' ? 'virtual' : 'human';
      const title = t(language, kind === 'human' ? 'edit.newHuman' : 'edit.newVirtual');
      return editorPage(request, language, 200, reply, { kind, values: {}, yaml: '' }, title, '/members/new', '/');
    });

    fastify.post('/members/new', { config: { access: 'admin' } }, async (request, reply) => {
      const language = languageOf(request);
      const body = (request.body ?? {}) as Record<string, unknown>;
      const kind: MemberKind = body.kind === 'virtual' ? 'virtual' : 'human';
      const mode = body.mode === 'yaml' ? 'yaml' : 'form';
      const title = t(language, kind === 'human' ? 'edit.newHuman' : 'edit.newVirtual');
      const values = formValues(kind, body);
      const text = mode === 'form' ? newMemberFile(kind, fieldValues(kind, values)) : lines(textOf(body.yaml));
      const editor: Editor = { kind, values: mode === 'form' ? values : (valuesOf(kind, text) ?? {}), yaml: text };
      const result = await createMemberFile(writer, { kind, text });
      if (result.status === 'written') request.log.info({ file: result.key, outcome: result.outcome.action }, 'member file created from the web UI');
      return answerSave(request, reply, language, result, editor, mode, text, title, '/members/new', '/', nameIn(text) ?? '');
    });

    fastify.get('/members/:kind/:name/edit', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      if (await refusedToViewer(request, reply, language)) return reply;
      const found = await memberFile(request, reply, language);
      if (!found) return reply;
      const { kind, name, file, now } = found;
      const url = memberUrl(kind, name);
      return editorPage(
        request,
        language,
        200,
        reply,
        { kind, values: valuesOf(kind, now.text), yaml: now.text, file, version: now.version },
        t(language, 'edit.title', { name }),
        `${url}/edit`,
        url,
      );
    });

    /**
     * The member file an edit or delete form names, with the version it was made from; a form
     * naming no file of the URL's kind (forged) is answered 400 here, and undefined returned.
     */
    const postedMemberFile = async (request: FastifyRequest, reply: FastifyReply, language: Language) => {
      const { kind, name } = request.params as { kind: string; name: string };
      const body = (request.body ?? {}) as Record<string, unknown>;
      const file = textOf(body.file);
      const version = textOf(body.version);
      if (!formNamesMemberFile(kind, file) || version === '') {
        await notice(request, reply, language, 400, t(language, 'member.notFound'), t(language, 'member.notFoundText', { name }));
        return undefined;
      }
      return { kind, name, body, file, version };
    };

    fastify.post('/members/:kind/:name/edit', { config: { access: 'admin' } }, async (request, reply) => {
      const language = languageOf(request);
      const posted = await postedMemberFile(request, reply, language);
      if (!posted) return reply;
      const { kind, name, body, file, version } = posted;
      const url = memberUrl(kind, name);
      const title = t(language, 'edit.title', { name });
      const mode = body.mode === 'yaml' ? 'yaml' : 'form';
      let text: string;
      let editor: Editor;
      if (mode === 'yaml') {
        text = lines(textOf(body.yaml));
        editor = { kind, values: valuesOf(kind, text), yaml: text, file, version };
      } else {
        const values = formValues(kind, body);
        const changes = fieldValues(kind, values);
        // The form's changes go into the file as it is now, which must be the version the form was made from.
        const now = await readMemberText(writer, file);
        if (!now || now.version !== version)
          return conflictPage(request, reply, language, kind, name, now ? 'changed' : 'gone', file, newMemberFile(kind, changes), now);
        try {
          text = editMemberFile(now.text, kind, changes);
        } catch (error) {
          if (!(error instanceof NotEditableError)) throw error;
          return editorPage(request, language, 422, reply, { kind, values: undefined, yaml: now.text, file, version }, title, `${url}/edit`, url);
        }
        editor = { kind, values, yaml: now.text, file, version };
      }
      const result = await saveMemberFile(writer, { key: file, kind, text, ifVersion: version });
      if (result.status === 'written') request.log.info({ file, outcome: result.outcome.action }, 'member file saved from the web UI');
      return answerSave(request, reply, language, result, editor, mode, text, title, `${url}/edit`, url, name);
    });

    fastify.get('/members/:kind/:name/delete', { config: { access: 'page' } }, async (request, reply) => {
      const language = languageOf(request);
      if (await refusedToViewer(request, reply, language)) return reply;
      const found = await memberFile(request, reply, language);
      if (!found) return reply;
      const { kind, name, file, now } = found;
      const url = memberUrl(kind, name);
      const csrf = await ui.sessions.csrfToken(request.session as Session);
      const title = t(language, 'edit.deleteTitle', { name });
      const main = html`${await accountBar(ui, request, language)}
<p><a href="${url}">${t(language, 'member.back')}</a></p>
<h2>${title}</h2>
<p>${t(language, 'edit.deleteQuestion', { file, name })}</p>
<pre class="file">${now.text}</pre>
<form method="post" action="${url}/delete"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="file" value="${file}"><input type="hidden" name="version" value="${now.version}">
<button type="submit">${t(language, 'edit.deleteConfirm')}</button> <a href="${url}">${t(language, 'edit.cancel')}</a></form>`;
      return sendPage(reply, 200, page(language, title, main, request));
    });

    fastify.post('/members/:kind/:name/delete', { config: { access: 'admin' } }, async (request, reply) => {
      const language = languageOf(request);
      const posted = await postedMemberFile(request, reply, language);
      if (!posted) return reply;
      const { kind, name, file, version } = posted;
      const result = await deleteMemberFile(writer, { key: file, kind, ifVersion: version });
      if (result.status === 'conflict') return conflictPage(request, reply, language, kind, name, 'delete', file, undefined, result.now);
      request.log.info({ file, outcome: result.outcome.action }, 'member file deleted from the web UI');
      const deleted = result.outcome.name ?? name;
      const proof = await ui.sessions.proofOf(request.session as Session, `deleted:${deleted}`);
      return reply
        .code(303)
        .header('location', `/?deleted=${encodeURIComponent(deleted)}&proof=${proof}`)
        .send();
    });

    /** The member of the URL and its file as storage has it now; otherwise the page that says why, and undefined. */
    async function memberFile(request: FastifyRequest, reply: FastifyReply, language: Language) {
      const { kind, name } = request.params as { kind: string; name: string };
      const member = kind === 'human' || kind === 'virtual' ? await getMember(app.db, kind, name) : undefined;
      if (!member) {
        await notice(request, reply, language, 404, t(language, 'member.notFound'), t(language, 'member.notFoundText', { name }));
        return undefined;
      }
      const now = member.file_uri ? await readMemberText(writer, member.file_uri) : undefined;
      if (!member.file_uri || !now) {
        await notice(request, reply, language, 409, member.name, t(language, 'edit.noFile'));
        return undefined;
      }
      return { kind: kind as MemberKind, name: member.name, file: member.file_uri, now };
    }
  };
}
