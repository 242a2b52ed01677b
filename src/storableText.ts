import * as z from 'zod';

/**
 * Text that PostgreSQL can store: no NUL (its text types cannot hold one) and no lone UTF-16
 * surrogate ("\uD800" in a JSON or YAML escape is no character, and has no UTF-8 form). One rule
 * for member files, API inputs and storage events, so that bad text is refused where it comes in,
 * with a message, instead of failing deep in a statement.
 */
export const hasNoNul = (value: string) => !value.includes('\0');
export const isWellFormed = (value: string) => !/\p{Cs}/u.test(value);

export const nulMessage = 'contains a NUL character, which PostgreSQL cannot store';
export const surrogateMessage = 'contains a lone UTF-16 surrogate (an escape such as "\\uD800"), which is not a character';

export const isStorable = (value: string) => hasNoNul(value) && isWellFormed(value);

/** A zod string that holds storable text only. Its issues say which check failed in `params.code`. */
export const storableString = () =>
  z
    .string()
    .refine(hasNoNul, { message: nulMessage, params: { code: 'nul' } })
    .refine(isWellFormed, { message: surrogateMessage, params: { code: 'encoding' } });

/**
 * What makes text display as something else: control characters (C0, DEL, C1 — a terminal acts
 * on ESC sequences, a line end splits a log line or a heading), line and paragraph separators,
 * and the bidirectional overrides and isolates that reorder what follows them ("Trojan Source").
 */
// (NUL, a control character too, has its own message above.)
const unprintable = /[\u0001-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;

/** The first character of `value` that makes it more than one line of plain text, if any. */
export function firstUnprintable(value: string): { character: string; index: number } | undefined {
  const found = unprintable.exec(value);
  return found ? { character: found[0], index: found.index } : undefined;
}

/** `U+001B`: how a character is named in messages. */
export const codePointOf = (character: string) => `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * One line of plain, storable text: for names and identifiers, which people read in terminals,
 * logs and headings. Free text (a bio, a prompt, a chat message) may hold line ends instead.
 */
export const plainLineString = () =>
  storableString().superRefine((value, context) => {
    const found = firstUnprintable(value);
    if (!found) return;
    context.addIssue({
      code: 'custom',
      message: `contains the control character ${codePointOf(found.character)} (at character ${found.index + 1}); it must be one line of plain text`,
      params: { code: 'control_character' },
    });
  });
