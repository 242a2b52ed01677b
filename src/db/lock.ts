import fs from 'node:fs/promises';
import { DatabaseUnavailableError } from './types.js';

/** Who holds an embedded data folder, and where it shares it, if it does. */
export interface LockOwner {
  pid: number;
  /** The port of the PostgreSQL protocol server of a running `vecr serve`. */
  port?: number;
}

const lockFileOf = (dataDir: string) => `${dataDir}.lock`;

/**
 * PGlite has no postmaster to stop a second process opening the same data folder, and two
 * writers would corrupt it. A lock file beside the folder refuses the second one; a file left by
 * a process that has died is taken over. `vecr serve` writes its port into it, so that other
 * commands can reach the database through the service instead.
 */
export async function acquireFolderLock(dataDir: string) {
  const lockFile = lockFileOf(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, JSON.stringify({ pid: process.pid } satisfies LockOwner), { flag: 'wx' });
      return {
        publishPort: (port: number) => fs.writeFile(lockFile, JSON.stringify({ pid: process.pid, port } satisfies LockOwner)),
        release: () => fs.rm(lockFile, { force: true }),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = await lockOwner(dataDir);
      if (owner) {
        throw new DatabaseUnavailableError(
          `the embedded database in ${dataDir} is in use by process ${owner.pid}; stop it first, or point DATABASE_URL at a PostgreSQL server`,
        );
      }
      await fs.rm(lockFile, { force: true });
    }
  }
  throw new DatabaseUnavailableError(`cannot lock the embedded database in ${dataDir}`);
}

/** The live process holding the folder, if any. */
export async function lockOwner(dataDir: string): Promise<LockOwner | undefined> {
  const text = await fs.readFile(lockFileOf(dataDir), 'utf8').catch(() => '');
  let owner: LockOwner | undefined;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    owner = Number(text) ? { pid: Number(text) } : undefined;
  }
  return owner && isAlive(owner.pid) ? owner : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
