import type { Queryable } from '../../db/types.js';

export interface AppliedEvent {
  file_uri: string;
  sequencer: string;
  etag: string | null;
  event_name: string;
}

export async function appliedEventsFor(db: Queryable, fileUris: readonly string[]): Promise<Map<string, AppliedEvent>> {
  if (fileUris.length === 0) return new Map();
  const { rows } = await db.query<AppliedEvent>(
    `SELECT file_uri, sequencer, etag, event_name FROM storage_events
     WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))`,
    [JSON.stringify(fileUris)],
  );
  return new Map(rows.map((row) => [row.file_uri, row]));
}

/**
 * Records the events applied, each as the last one of its file (even when its sequencer is lower
 * than the one recorded: it was applied because storage had changed since). Only for files the
 * registry knows — a member_files record, which the row's foreign key requires: an event for a
 * file that does not exist leaves nothing behind.
 */
export async function recordAppliedEvents(tx: Queryable, events: readonly AppliedEvent[]) {
  if (events.length === 0) return;
  await tx.query(
    `INSERT INTO storage_events AS e (file_uri, sequencer, etag, event_name)
     SELECT r.file_uri, r.sequencer, r.etag, r.event_name
     FROM jsonb_to_recordset($1::jsonb) AS r(file_uri text, sequencer text, etag text, event_name text)
     WHERE EXISTS (SELECT 1 FROM member_files f WHERE f.file_uri = r.file_uri)
     ON CONFLICT (file_uri) DO UPDATE SET
         sequencer = EXCLUDED.sequencer, etag = EXCLUDED.etag, event_name = EXCLUDED.event_name, applied_at = now()`,
    [JSON.stringify(events)],
  );
}
