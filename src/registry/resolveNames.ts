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
 * Decides which files of a batch get the names they claim in one table. The rule (README,
 * "Name conflicts"): the row that holds a name keeps it while its file names its member so; a
 * row whose file names it differently — in this batch, or (with `passOnFromRefused`, see
 * `ChangeSet`) as recorded when that file was refused for wanting a name another file holds —
 * lets it go; among files claiming a free name, the first by file_uri wins. Deterministic for
 * the same input.
 *
 * `displaced` are the files whose rows lose their names to accepted claims without being renamed
 * themselves (their files were refused, or are not in the batch): their rows are deleted. A row
 * goes only when its name is claimed: until then a refused file keeps its last good row, as any
 * invalid file does (an edit undone finds the same row).
 */
export function resolveNameClaims(claims: readonly NameClaim[], holders: readonly NameHolder[], passOnFromRefused: boolean) {
  const holderOf = new Map(holders.map((h) => [h.name, h]));
  const currentName = new Map(holders.flatMap((h) => (h.file_uri ? [[h.file_uri, h.name] as const] : [])));
  const wanted = new Map(claims.map((c) => [c.file_uri, c.name]));
  const sorted = [...claims].sort((a, b) => (a.file_uri < b.file_uri ? -1 : a.file_uri > b.file_uri ? 1 : 0));

  /**
   * Whether a holder's file still names its member as the row has it. A holder outside the batch
   * refused for wanting another name lets its name go — unless the name it wants is about to be
   * freed by a file of this batch, or the wants go round in a circle: then the names cross, and
   * the files get them together, each row renamed in place (the registrar reads such files again
   * as one change; a full sync retries its refused files together at its end).
   */
  const keepsName = (holder: NameHolder): boolean => {
    const inBatch = wanted.get(holder.file_uri!);
    if (inBatch !== undefined) return inBatch === holder.name;
    if (!passOnFromRefused || holder.wants === null) return true;
    const seen = new Set<string | null>([holder.file_uri]);
    for (let wants = holder.wants; ; ) {
      const next = holderOf.get(wants);
      // Free, or held by an older tool's row that any claimant adopts: the holder can have it.
      if (!next?.registered) return false;
      if (seen.has(next.file_uri)) return true;
      const nextWants = wanted.get(next.file_uri!);
      if (nextWants !== undefined) return nextWants !== wants;
      // Held for good by a file that names its member so: the holder cannot have it.
      if (next.wants === null) return false;
      seen.add(next.file_uri);
      wants = next.wants;
    }
  };

  const claimedBy = new Map<string, string>();
  const accepted: ClaimDecision[] = [];
  const rejected: RejectedClaim[] = [];
  for (const claim of sorted) {
    const holder = holderOf.get(claim.name);
    const otherHolder = holder?.registered && holder.file_uri !== claim.file_uri ? holder : undefined;
    const heldBy = otherHolder && keepsName(otherHolder) ? otherHolder.file_uri! : claimedBy.get(claim.name);
    if (heldBy !== undefined) {
      rejected.push({ file_uri: claim.file_uri, name: claim.name, heldBy });
      continue;
    }
    claimedBy.set(claim.name, claim.file_uri);
    const previous = currentName.get(claim.file_uri);
    // Built field by field, not spread: this runs for every file of a sync.
    accepted.push({
      file_uri: claim.file_uri,
      name: claim.name,
      adopts: holder !== undefined && !holder.registered,
      renames: previous !== undefined && previous !== claim.name,
    });
  }

  const acceptedFiles = new Set(accepted.map((c) => c.file_uri));
  const displaced = accepted.flatMap((claim) => {
    const holder = holderOf.get(claim.name);
    return holder?.registered && holder.file_uri !== claim.file_uri && !acceptedFiles.has(holder.file_uri!) ? [holder.file_uri!] : [];
  });
  return { accepted, rejected, displaced };
}
