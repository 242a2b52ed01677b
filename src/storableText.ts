import { z } from 'zod';

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

/** A zod string that holds storable text only. */
export const storableString = () => z.string().refine(hasNoNul, nulMessage).refine(isWellFormed, surrogateMessage);
