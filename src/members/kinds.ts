/**
 * The two kinds of member and their tables, apart from the schemas (schema.ts): what reads the
 * tables needs these without loading the validation library.
 */
export type MemberKind = 'human' | 'virtual';
export const memberKinds: readonly MemberKind[] = ['human', 'virtual'];
export const tableOf = { human: 'human_members', virtual: 'virtual_members' } as const;
