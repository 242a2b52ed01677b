import type * as z from 'zod';

type Issue = z.core.$ZodIssue;

/** One problem of an input, at a field path (`messages[0].role`; empty for the whole input). */
export interface IssueDetail {
  path: string;
  message: string;
}

export interface IssueSummary {
  /** All problems in one line: `missing fields: speaker_name, content; role: Invalid option: ...` */
  message: string;
  details: IssueDetail[];
}

/**
 * What zod found wrong with `input`, in words a client can act on. A field that is absent is
 * named as missing (zod calls it a value of the wrong type, or not one of the options); keys the schema does
 * not know are named as unknown; anything else is the field and zod's message. Of a union of
 * object shapes, the problems reported are those of the shape the input meant: the one that
 * knows the most of its keys (the first one, on a tie). `within` is where `input` itself is, for
 * the names of fields (`messages[2]`).
 */
export function summarizeIssues(issues: readonly Issue[], input: unknown, within: readonly PropertyKey[] = []): IssueSummary {
  const missing: string[] = [];
  const unknown: string[] = [];
  const others: IssueDetail[] = [];
  for (const issue of flatten(issues, [], input)) {
    const path = fieldPath([...within, ...issue.path]);
    if (issue.code === 'unrecognized_keys') unknown.push(...issue.keys.map((key) => fieldPath([...within, ...issue.path, key])));
    else if (isAbsent(input, issue.path)) missing.push(path);
    else others.push({ path, message: issue.message });
  }
  const details = [
    ...missing.map((path) => ({ path, message: 'is missing' })),
    ...unknown.map((path) => ({ path, message: 'is not a known field' })),
    ...others,
  ];
  const parts = [
    ...(missing.length ? [`missing ${missing.length === 1 ? 'field' : 'fields'}: ${missing.join(', ')}`] : []),
    ...(unknown.length ? [`unknown ${unknown.length === 1 ? 'field' : 'fields'}: ${unknown.join(', ')}`] : []),
    ...others.map((other) => (other.path ? `${other.path}: ${other.message}` : other.message)),
  ];
  return { message: parts.join('; ') || 'invalid input', details };
}

/** The issues with each union replaced by those of its likeliest branch, paths made absolute. */
function flatten(issues: readonly Issue[], prefix: readonly PropertyKey[], input: unknown): Array<Issue & { path: PropertyKey[] }> {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) return flatten(likeliestBranch(issue.errors), path, input);
    return [{ ...issue, path }];
  });
}

function likeliestBranch(branches: ReadonlyArray<readonly Issue[]>): readonly Issue[] {
  const unknownKeys = (branch: readonly Issue[]) =>
    branch.reduce((n, issue) => n + (issue.code === 'unrecognized_keys' && issue.path.length === 0 ? issue.keys.length : 0), 0);
  return branches.reduce((best, branch) => (unknownKeys(branch) < unknownKeys(best) ? branch : best));
}

/** A field the input does not have: zod says it is of the wrong type, or not one of the options. */
function isAbsent(input: unknown, path: readonly PropertyKey[]): boolean {
  let value = input;
  for (const part of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return true;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value === undefined && path.length > 0;
}

/** `messages[0].role`, as a field is named in messages. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`)).join('');
}
