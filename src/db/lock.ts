import fs from 'node:fs/promises';
import { DatabaseUnavailableError } from './types.js';

/**
 * PGlite has no postmaster to stop a second process opening the same data folder, and two
 * writers would corrupt it. A pid file beside the folder refuses the second one; a file left by
 * a process that has died is taken over.
 */
export async function acquireFolderLock(dataDir: string): Promise<() => Promise<void>> {
  const lockFile = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, String(process.pid), { flag: 'wx' });
      return async () => {
        await fs.rm(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await fs.readFile(lockFile, 'utf8').catch(() => ''));
      if (owner && isAlive(owner)) {
        throw new DatabaseUnavailableError(
          `the embedded database in ${dataDir} is in use by process ${owner}; stop it first, or point DATABASE_URL at a PostgreSQL server`,
        );
      }
      await fs.rm(lockFile, { force: true });
    }
  }
  throw new DatabaseUnavailableError(`cannot lock the embedded database in ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
