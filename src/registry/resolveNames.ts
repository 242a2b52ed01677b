import type { NameHolder } from './sql/memberRows.js';

export interface NameClaim {
  file_uri: string;
  name: string;
}

export interface ClaimDecision extends NameClaim {
  /** The name is held by a row without a file, which this file takes over. */
  adopts: boolean;
  /** The file's row exists under another name. */
  renames: boolean;
}

export interface RejectedClaim extends NameClaim {
  /** The file that keeps the name. */
  heldBy: string;
}

/**
 * Decides which files of a batch get the names they claim in one table. The rule: the row that
 * holds a name keeps it; a row whose own file now names it differently lets it go; among files
 * claiming a free name, the first by file_uri wins. Deterministic for the same input.
 */
export function resolveNameClaims(claims: readonly NameClaim[], holders: readonly NameHolder[]) {
  // A row whose file this registry never registered (none, or an older tool's) holds its name
  // only until a file claims it: then that file adopts the row.
  const holderOf = new Map(holders.map((h) => [h.name, h.registered ? h.file_uri : null]));
  const currentName = new Map(holders.flatMap((h) => (h.file_uri ? [[h.file_uri, h.name] as const] : [])));
  const sorted = [...claims].sort((a, b) => (a.file_uri < b.file_uri ? -1 : a.file_uri > b.file_uri ? 1 : 0));

  // A rejection can keep another file's old name in place and so cause more: repeat until stable.
  const blocked = new Map<string, string>();
  let accepted: ClaimDecision[] = [];
  let rejected: RejectedClaim[] = [];
  for (let changed = true; changed; ) {
    changed = false;
    const wanted = new Map(sorted.filter((c) => !blocked.has(c.file_uri)).map((c) => [c.file_uri, c.name]));
    const claimedBy = new Map<string, string>();
    accepted = [];
    rejected = [];
    for (const claim of sorted) {
      const holder = holderOf.get(claim.name);
      const holderKeepsName = holder != null && holder !== claim.file_uri && (!wanted.has(holder) || wanted.get(holder) === claim.name);
      if (holderKeepsName && !blocked.has(claim.file_uri)) {
        blocked.set(claim.file_uri, holder);
        changed = true;
      }
      const earlier = claimedBy.get(claim.name);
      if (earlier !== undefined && !blocked.has(claim.file_uri)) {
        // Refused for good, so that its current name counts as kept in the next round.
        blocked.set(claim.file_uri, earlier);
        changed = true;
      }
      const heldBy = blocked.get(claim.file_uri);
      if (heldBy !== undefined) {
        rejected.push({ file_uri: claim.file_uri, name: claim.name, heldBy });
        continue;
      }
      claimedBy.set(claim.name, claim.file_uri);
      const previous = currentName.get(claim.file_uri);
      // Built field by field, not spread: this runs for every file of a sync.
      accepted.push({ file_uri: claim.file_uri, name: claim.name, adopts: holderOf.has(claim.name) && holder === null, renames: previous !== undefined && previous !== claim.name });
    }
  }
  return { accepted, rejected };
}
