/**
 * One shape for every problem with a member file: the CLI prints it, the sync records it and
 * the HTTP API returns it.
 */
export interface MemberIssue {
  /** The file's URI (its key in storage) or the path it was read from. */
  file: string;
  /** Which field, as a path: `name`, `skills[2]`. Absent for problems of the whole file. */
  field?: string;
  line?: number;
  column?: number;
  code: IssueCode;
  message: string;
  /** How to fix it, when there is more to say than the message. */
  hint?: string;
}

export const issueCodes = [
  'too_large',
  'encoding',
  'yaml',
  /** A full-width character where YAML needs ASCII syntax (a Japanese keyboard's colon, space, bracket or comma). */
  'full_width',
  'too_deep',
  'aliases',
  'documents',
  'empty',
  'not_a_mapping',
  'required',
  'type',
  'unknown_field',
  'too_long',
  'empty_value',
  'format',
  'nul',
  'control_character',
  /** A name that would look the same as another: a space at an end, an invisible character, not NFC. */
  'look_alike',
  /** `.` or `..` as a name: no URL can point at it. */
  'reserved_name',
  'both_prompts',
  /** A check of the schema that declares no code of its own. */
  'invalid',
  'unusable_path',
  'unreadable',
  'not_a_member_path',
  'name_conflict',
] as const;

export type IssueCode = (typeof issueCodes)[number];

export function isIssueCode(value: unknown): value is IssueCode {
  return (issueCodes as readonly unknown[]).includes(value);
}

/** `file:line:column: field: message (hint)`, the way compilers print it. */
export function formatIssue(issue: MemberIssue): string {
  let where = issue.file;
  if (issue.line !== undefined) where += `:${issue.line}`;
  if (issue.line !== undefined && issue.column !== undefined) where += `:${issue.column}`;
  const field = issue.field ? `${issue.field}: ` : '';
  const hint = issue.hint ? ` (${issue.hint})` : '';
  return `${where}: ${field}${issue.message}${hint}`;
}

/**
 * The issue as PostgreSQL can store it in JSON: NUL characters and lone UTF-16 surrogates (which
 * a hostile file can put into a key) become U+FFFD.
 */
export function storableIssue(issue: MemberIssue): MemberIssue {
  const clean = (text: string) => text.replace(/\0|\p{Cs}/gu, '\uFFFD');
  return Object.fromEntries(Object.entries(issue).map(([k, v]) => [k, typeof v === 'string' ? clean(v) : v])) as unknown as MemberIssue;
}
