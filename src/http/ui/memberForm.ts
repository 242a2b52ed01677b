import { isMap, parseDocument } from 'yaml';
import { type EditableField, editableFields, type FieldValue, listFields } from '../../members/editFile.js';
import type { MemberIssue } from '../../members/issues.js';
import type { MemberKind } from '../../members/schema.js';
import { type Html, html } from './html.js';
import { type Language, t } from './i18n.js';

/**
 * The member form of the editor pages (ui/edit.ts): its fields as HTML, what a posted form gives
 * a file, and the problems of a file put where a person looks for them.
 */

/** Fields whose text may run over several lines: a textarea each, their text kept as typed. */
const longTextFields: ReadonlySet<string> = new Set(['bio', 'system_prompt']);

/** A form's fields as the page shows them: text, lists one item a line. */
export type FormValues = Partial<Record<EditableField, string>>;

/** One field of the form: labelled, its problems beside it (and announced with it). */
export function fieldInput(language: Language, field: EditableField, value: string, problems: readonly MemberIssue[]): Html {
  const id = `field-${field}`;
  const required = field === 'name' || field === 'llm_model';
  const list = listFields.has(field);
  const described = [...(list ? [`${id}-hint`] : []), ...(problems.length > 0 ? [`${id}-problems`] : [])].join(' ');
  const attributes = html`id="${id}" name="${field}"${required ? html` required` : ''}${problems.length > 0 ? html` aria-invalid="true"` : ''}${described ? html` aria-describedby="${described}"` : ''}`;
  const input =
    list || longTextFields.has(field)
      ? html`<textarea ${attributes} rows="${field === 'system_prompt' ? 12 : 4}">
${value}</textarea>`
      : html`<input ${attributes} type="${field === 'contact_email' ? 'email' : 'text'}" value="${value}">`;
  return html`<div class="field${problems.length > 0 ? ' invalid' : ''}"><label for="${id}">${t(language, `field.${field}`)}${required ? html` <span class="required">${t(language, 'edit.required')}</span>` : ''}</label>
${input}
${list ? html`<small id="${id}-hint">${t(language, 'edit.listHint')}</small>` : ''}
${problems.length > 0 ? html`<ul class="problems" id="${id}-problems">${problems.map((problem) => problemText(language, problem, false))}</ul>` : ''}</div>
`;
}

/** A problem in words: where (line, column; the field), what it means, then the registry's own message. */
export function problemText(language: Language, problem: MemberIssue, withPlace = true): Html {
  const at =
    withPlace && problem.line !== undefined
      ? html`<span class="at">${t(language, 'edit.problemAt', { line: problem.line, column: problem.column ?? 1 })}</span> `
      : '';
  const field = withPlace && problem.field ? html`<code>${problem.field}</code> ` : '';
  return html`<li>${at}${field}${t(language, `issue.${problem.code}`)} <span class="hint">${problem.field ?? ''}${problem.field ? ': ' : ''}${problem.message}${problem.hint ? ` (${problem.hint})` : ''}</span></li>`;
}

/** The form's problems by the field that shows each (`skills[2]` at skills; `custom_prompt` at the prompt), and the rest. */
export function byField(kind: MemberKind, issues: readonly MemberIssue[]): { fields: Map<string, MemberIssue[]>; rest: MemberIssue[] } {
  const fields = new Map<string, MemberIssue[]>();
  const rest: MemberIssue[] = [];
  const known: ReadonlySet<string> = new Set(editableFields[kind]);
  for (const issue of issues) {
    const base = issue.field?.split(/[[.]/)[0];
    const field = base === 'custom_prompt' ? 'system_prompt' : base;
    if (field && known.has(field)) fields.set(field, [...(fields.get(field) ?? []), issue]);
    else rest.push(issue);
  }
  return { fields, rest };
}

export const textOf = (value: unknown) => (typeof value === 'string' ? value : '');

/** Text as a browser sends a textarea's (CRLF line breaks), with the line breaks of a file. */
export const lines = (text: string) => text.replace(/\r\n?/g, '\n');

/** The form's fields from a posted body, as typed. */
export function formValues(kind: MemberKind, body: Record<string, unknown>): FormValues {
  return Object.fromEntries(editableFields[kind].map((field) => [field, lines(textOf(body[field]))]));
}

/**
 * The values the form's fields give the file: one-line fields trimmed, long texts as typed,
 * lists one item a line; empty is no value (the field leaves the file).
 */
export function fieldValues(kind: MemberKind, values: FormValues): Partial<Record<EditableField, FieldValue>> {
  const result: Partial<Record<EditableField, FieldValue>> = {};
  for (const field of editableFields[kind]) {
    const text = values[field] ?? '';
    if (listFields.has(field))
      result[field] = text
        .split('\n')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    else if (longTextFields.has(field)) result[field] = text.trim() === '' ? null : text;
    else result[field] = text.trim() === '' ? null : text.trim();
  }
  return result;
}

/** The form's fields from a file's text, or undefined when the text is no YAML mapping, or its aliases cannot be resolved (the form cannot edit it). */
export function valuesOf(kind: MemberKind, text: string): FormValues | undefined {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return undefined;
  let data: Record<string, unknown>;
  try {
    data = doc.toJS() as Record<string, unknown>;
  } catch {
    // An alias that leads nowhere or expands too far (the `yaml` package's bound): the YAML editor shows the text as it is.
    return undefined;
  }
  const shown = (value: unknown) => (Array.isArray(value) ? value.map(String).join('\n') : value === null || value === undefined ? '' : String(value));
  return Object.fromEntries(
    editableFields[kind].map((field) => [field, shown(field === 'system_prompt' ? (data.system_prompt ?? data.custom_prompt) : data[field])]),
  );
}

/** The name a file's text gives, if it gives one. */
export function nameIn(text: string): string | undefined {
  const doc = parseDocument(text);
  const name = isMap(doc.contents) ? doc.get('name') : undefined;
  return typeof name === 'string' && name !== '' ? name : undefined;
}
