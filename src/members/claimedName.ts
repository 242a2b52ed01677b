import { parseDocument } from 'yaml';

/**
 * The name an invalid file gives its member, as far as it can be read: the YAML parser's `name`
 * despite other errors, else a `name:` line (also one written with a full-width colon).
 */
export function claimedName(text: string): string | undefined {
  const parsed = parseDocument(text).get('name');
  if (typeof parsed === 'string') return parsed.trim();
  const line = /^name[ \t\u3000]*[:\uFF1A][ \t\u3000]*(.*?)[ \t\u3000]*$/m.exec(text)?.[1];
  return line?.replace(/^(["'])(.*)\1$/, '$2');
}
