import type { Command } from 'commander';
import { describeStorage, parseUpsertKey, storageConfig } from '../../config.js';
import { DatabaseUnavailableError } from '../../db/types.js';
import { formatIssue } from '../../members/issues.js';
import { defaultLimits } from '../../members/limits.js';
import { openStorage } from '../../storage/open.js';
import { maxReportedChanges, syncStorage } from '../../sync/reconcile.js';
import { configFrom, withDatabase } from '../context.js';
import { printJson, shown } from '../output.js';
import { progressBar } from '../progress.js';

const shownChanges = 20;

export async function syncCommand(
  options: { storage?: string; dryRun?: boolean; delete: boolean; allowEmpty?: boolean; key?: string; json?: boolean },
  command: Command,
) {
  const config = configFrom(command.optsWithGlobals());
  const storage = options.storage ? storageConfig(options.storage) : config.storage;
  const key = options.key ? parseUpsertKey(options.key) : config.upsertKey;
  const files = await openStorage(storage);
  // Storage first: a sync that cannot read it leaves nothing behind, not a new, empty database.
  await files.check();
  const report = await withDatabase(config, async (db) => {
    // Made once the database is open: its rate counts the sync, not the start-up.
    const progress = progressBar('sync', { enabled: !options.json });
    try {
      return await syncStorage(db, files, {
        key,
        limits: { ...defaultLimits, maxBytes: config.maxFileBytes },
        dryRun: !!options.dryRun,
        delete: options.delete,
        allowEmpty: !!options.allowEmpty,
        trigger: 'cli',
        onProgress: (done, total) => progress.update(done, total),
      });
    } catch (error) {
      throw stoppedBy(error, !!options.dryRun);
    } finally {
      progress.done();
    }
  });

  if (options.json) {
    printJson(report);
  } else {
    const { created, updated, unchanged, deleted, invalid } = report;
    const out = process.stdout;
    out.write(`${report.dryRun ? 'Dry run (nothing written): ' : ''}${describeStorage(storage)}\n`);
    out.write(
      `  created ${created}, updated ${updated}, unchanged ${unchanged}, deleted ${deleted}, invalid ${invalid}  (${(report.durationMs / 1000).toFixed(2)} s)\n`,
    );
    for (const change of report.changes.slice(0, shownChanges)) {
      const movedFrom = change.moved_from ? `, moved from ${shown(change.moved_from)}` : '';
      out.write(`  ${change.action.padEnd(8)} ${shown(change.file_uri)}${change.name ? `  (${shown(change.name)}${movedFrom})` : ''}\n`);
    }
    const more = created + updated + deleted - Math.min(shownChanges, report.changes.length);
    if (more > 0) out.write(`  ... and ${more} more (--json lists up to ${maxReportedChanges})\n`);
    if (report.issues.length > 0) {
      process.stderr.write(`\n${invalid} invalid file${invalid === 1 ? '' : 's'}:\n`);
      for (const issue of report.issues) process.stderr.write(`  ${shown(formatIssue(issue))}\n`);
    }
  }
  if (report.invalid > 0) process.exitCode = 1;
}

/**
 * A sync the database left midway: the cause, what stays of the run and what to do, in the one
 * sentence the command prints. Each batch is its own transaction, so those committed before stay
 * and the rest is for the next run, which picks up where this one stopped.
 */
function stoppedBy(error: unknown, dryRun: boolean): unknown {
  if (!(error instanceof DatabaseUnavailableError)) return error;
  const left = dryRun ? 'Nothing was written (a dry run).' : 'Batches committed before stay; run vecr sync again to finish.';
  return new DatabaseUnavailableError(`the sync stopped: ${error.message}. ${left}`, { cause: error, reason: error.reason });
}
