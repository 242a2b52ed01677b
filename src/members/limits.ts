/**
 * How much a member file may ask of the parser, apart from the parser itself (parse.ts): a sync
 * that finds nothing to parse does not load it.
 */
export interface ParseLimits {
  /** Largest file accepted, in bytes. */
  maxBytes: number;
  /** Most aliases a file may use (guards against alias-expansion bombs). */
  maxAliases: number;
  /** Deepest nesting of collections (a member needs 2: the mapping and a list). */
  maxDepth: number;
}

export const defaultLimits: ParseLimits = { maxBytes: 1024 * 1024, maxAliases: 50, maxDepth: 16 };
