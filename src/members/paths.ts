import type { MemberKind } from './schema.js';

// A Map, not an object: a folder named `constructor` or `__proto__` is no kind of member.
const folders = new Map<string, MemberKind>([
  ['human_members', 'human'],
  ['virtual_members', 'virtual'],
]);
const memberFileName = /^[^.].*\.ya?ml$/i;

/** The folder, at the top of the storage, where new members' files go. */
export const memberFolderOf: Readonly<Record<MemberKind, string>> = { human: 'human_members', virtual: 'virtual_members' };

/**
 * The kind of member a storage key describes, or undefined when it is no member file: the parent
 * folder decides, at any depth (`data/samples/human_members/syota.yml` is a human), and only
 * `.yml` / `.yaml` files count.
 */
export function memberKindOf(key: string): MemberKind | undefined {
  const slash = key.lastIndexOf('/');
  if (slash < 0 || !memberFileName.test(key.slice(slash + 1))) return undefined;
  return folders.get(key.slice(key.lastIndexOf('/', slash - 1) + 1, slash));
}

const maxFileUri = 512;

/**
 * Why a key cannot be a member's file_uri, if it cannot: too long for the column, or holding
 * control characters (PostgreSQL text cannot hold NUL; the others have no business in a path),
 * or a lone UTF-16 surrogate (an event may carry one as a JSON escape; it is no character).
 */
export function unusableKey(key: string): string | undefined {
  if (key.length > maxFileUri) return `the path is longer than ${maxFileUri} characters (file_uri is VARCHAR(512))`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'the path contains control characters';
  if (/\p{Cs}/u.test(key)) return 'the path contains a lone UTF-16 surrogate, which is no character';
  return undefined;
}
