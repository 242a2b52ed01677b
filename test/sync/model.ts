/**
 * The registry's documented rules (README, "How registration works") as a model that knows
 * nothing of the implementation: it sees only the history of storage (every write and delete,
 * in order) and, at quiet moments, the member rows. From them it says what the database must be
 * once every event has arrived (and one reconcile has run where events were dropped):
 *
 * - a valid file holds its name, or is refused because another row holds that name: a name some
 *   valid file claims is never left unheld (claims pass on — defect 5);
 * - every row belongs to a file in storage, of its table's kind, and carries a name that file
 *   gave its member: the row of a registered file carries its name and content; a file turned
 *   invalid keeps its last good row (flagged), and so does a file refused for the name it names
 *   now — but such a row never blocks its name: once another valid file claims that name, the
 *   refused file's row is gone and the claimant holds it (defect 5);
 * - holders keep their names: a row seen holding a name, at a moment when nothing was in flight
 *   and its file named that member, keeps it — the same row, same id — as long as its file stays
 *   in storage and names no other member (the file may turn invalid meanwhile: its last good row
 *   keeps the name);
 * - every file in storage has its record: `registered` when its row is its own, else `invalid`
 *   with its reasons (`name_conflict` for a valid file refused for a name); no record outlives
 *   its file.
 *
 * Which of two files claiming one free name gets it depends on which the registry saw first
 * (delivery order, batches): the model does not guess it, it asserts that exactly one claimant
 * does and that the other is refused for it.
 */

export type MemberKind = 'human' | 'virtual';

/** A member file as storage holds it, reduced to what the rules look at. */
export type FileState = { kind: MemberKind; valid: true; name: string; role: string } | { kind: MemberKind; valid: false };

/** A member row as read from the database. */
export interface RowSeen {
  kind: MemberKind;
  id: number;
  name: string;
  file_uri: string | null;
  role: string | null;
}

/** A `member_files` record as read from the database. */
export interface RecordSeen {
  file_uri: string;
  status: string;
  /** The `code` of each of its errors. */
  codes: string[];
}

/** A name that a row was seen holding, and must keep (see `anchor`). */
interface Holding {
  kind: MemberKind;
  name: string;
  file_uri: string;
  /** The row's id: a holder keeps its row too (same id, same created_at), not a new one. */
  id: number;
}

export class RegistryModel {
  private readonly files = new Map<string, FileState>();
  /** Every name each key ever gave a valid member: the names its last good row may carry. */
  private readonly namesOf = new Map<string, Set<string>>();
  /** kind + name → the file that must keep holding it. */
  private readonly kept = new Map<string, Holding>();

  /** The files in storage now. */
  get storage(): ReadonlyMap<string, FileState> {
    return this.files;
  }

  /** A file written (created or replaced) in storage. */
  write(key: string, state: FileState): void {
    this.files.set(key, state);
    if (state.valid) {
      const names = this.namesOf.get(key) ?? new Set<string>();
      names.add(state.name);
      this.namesOf.set(key, names);
    }
    // Its file naming another member lets the name go.
    for (const [slot, holding] of this.kept) {
      if (holding.file_uri === key && state.valid && state.name !== holding.name) this.kept.delete(slot);
    }
  }

  /** A file deleted from storage: whatever it held passes on. */
  remove(key: string): void {
    this.files.delete(key);
    for (const [slot, holding] of this.kept) if (holding.file_uri === key) this.kept.delete(slot);
  }

  /**
   * The rows, read while nothing was in flight (no event being applied, no reconcile, no name
   * being handed over; events not yet delivered are fine: they read storage as it is when they
   * arrive). Answers the names that a holder lost although its file never let them go; then
   * every row whose file names that member now (or is invalid) is a holder the rule protects
   * from here on.
   */
  anchor(rows: readonly RowSeen[]): string[] {
    const violations = this.keptNamesLost(rows);
    for (const row of rows) {
      if (row.file_uri === null) continue;
      const file = this.files.get(row.file_uri);
      if (!file || file.kind !== row.kind || (file.valid && file.name !== row.name)) continue;
      this.kept.set(slot(row.kind, row.name), { kind: row.kind, name: row.name, file_uri: row.file_uri, id: row.id });
    }
    return violations;
  }

  /** What in the final database contradicts the rules; empty when it is what they give. */
  check(rows: readonly RowSeen[], records: readonly RecordSeen[]): string[] {
    const violations = this.keptNamesLost(rows);
    const holderOf = new Map(rows.map((row) => [slot(row.kind, row.name), row]));
    const recordOf = new Map(records.map((record) => [record.file_uri, record]));

    for (const row of rows) {
      const where = `${row.kind} row "${row.name}"`;
      if (row.file_uri === null) {
        violations.push(`${where} has no file`);
        continue;
      }
      const file = this.files.get(row.file_uri);
      if (!file) {
        violations.push(`${where} belongs to ${row.file_uri}, which is not in storage`);
        continue;
      }
      if (file.kind !== row.kind) {
        violations.push(`${where} belongs to ${row.file_uri}, a ${file.kind} file`);
        continue;
      }
      if (file.valid && file.name === row.name) {
        if (file.role !== row.role)
          violations.push(`${where} has role ${JSON.stringify(row.role)}, its file ${row.file_uri} says ${JSON.stringify(file.role)}`);
        continue;
      }
      // The last good row of a file now invalid, or refused for the name it names now.
      if (!this.namesOf.get(row.file_uri)?.has(row.name)) violations.push(`${where} belongs to ${row.file_uri}, which never named "${row.name}"`);
      if (!file.valid) continue;
      const record = recordOf.get(row.file_uri);
      if (record?.status !== 'invalid' || !record.codes.includes('name_conflict')) {
        violations.push(
          `${where} belongs to ${row.file_uri}, which names "${file.name}" and is not refused for it (record: ${record?.status} ${JSON.stringify(record?.codes)})`,
        );
      }
      const claimants = [...this.files]
        .filter(([key, other]) => key !== row.file_uri && other.kind === row.kind && other.valid && other.name === row.name)
        .map(([key]) => key);
      if (claimants.length > 0) {
        violations.push(`${where} belongs to ${row.file_uri}, which names "${file.name}": a stale row blocks the name, claimed by ${claimants.join(', ')}`);
      }
    }

    for (const [key, file] of this.files) {
      const record = recordOf.get(key);
      if (!record) {
        violations.push(`${key} is in storage but has no record`);
        continue;
      }
      if (!file.valid) {
        if (record.status !== 'invalid' || record.codes.length === 0 || record.codes.every((code) => code === 'name_conflict')) {
          violations.push(`${key} is invalid, but its record says ${record.status} ${JSON.stringify(record.codes)}`);
        }
        continue;
      }
      const holder = holderOf.get(slot(file.kind, file.name));
      if (!holder) {
        violations.push(
          `${key} claims "${file.name}", which no ${file.kind} row holds, yet it is not registered (record: ${record.status} ${JSON.stringify(record.codes)})`,
        );
      } else if (holder.file_uri === key) {
        if (record.status !== 'registered')
          violations.push(`${key} holds "${file.name}", but its record says ${record.status} ${JSON.stringify(record.codes)}`);
      } else if (record.status !== 'invalid' || !record.codes.includes('name_conflict')) {
        violations.push(
          `${key} claims "${file.name}", held by ${holder.file_uri}, but its record says ${record.status} ${JSON.stringify(record.codes)} (expected a name_conflict)`,
        );
      }
    }
    for (const record of records) {
      if (!this.files.has(record.file_uri)) violations.push(`${record.file_uri} has a record (${record.status}) but is not in storage`);
    }
    return violations;
  }

  private keptNamesLost(rows: readonly RowSeen[]): string[] {
    const holderOf = new Map(rows.map((row) => [slot(row.kind, row.name), row]));
    const violations: string[] = [];
    for (const holding of this.kept.values()) {
      const now = holderOf.get(slot(holding.kind, holding.name));
      if (now?.file_uri !== holding.file_uri) {
        violations.push(
          `${holding.file_uri} held ${holding.kind} "${holding.name}" and its file never let it go, but now ${now ? `${now.file_uri} holds it` : 'no row holds it'}`,
        );
      } else if (now.id !== holding.id) {
        violations.push(`${holding.file_uri} kept ${holding.kind} "${holding.name}" but not its row: id ${holding.id} became ${now.id}`);
      }
    }
    return violations;
  }
}

function slot(kind: MemberKind, name: string): string {
  return `${kind}\u0000${name}`;
}
