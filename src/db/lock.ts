import fs from 'node:fs/promises';
import net from 'node:net';
import { createPrivateFile, replacePrivateFile } from '../privateFiles.js';
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
 * commands can reach the database through the service instead. Owner-only (0600), as everything
 * of ours in the data folder.
 */
export async function acquireFolderLock(dataDir: string, label = { what: 'the embedded database', instead: 'or point DATABASE_URL at a PostgreSQL server' }) {
  const lockFile = lockFileOf(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await createPrivateFile(lockFile, JSON.stringify({ pid: process.pid } satisfies LockOwner));
      return {
        // Replaced in one step: a reader never sees the file half written.
        publishPort: (port: number) => replacePrivateFile(lockFile, JSON.stringify({ pid: process.pid, port } satisfies LockOwner)),
        release: () => fs.rm(lockFile, { force: true }),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = await lockOwner(dataDir);
      if (owner) {
        const who = Number.isNaN(owner.pid) ? `another process (see ${lockFile})` : `process ${owner.pid}`;
        throw new DatabaseUnavailableError(`${label.what} in ${dataDir} is in use by ${who}; stop it first, ${label.instead}`);
      }
      await fs.rm(lockFile, { force: true });
    }
  }
  throw new DatabaseUnavailableError(`cannot lock ${label.what} in ${dataDir}`);
}

/**
 * The live process holding the folder, if any. A lock naming this very process, or a dead one,
 * or a port nobody answers on, was left by a process that died (after a restart in a container
 * the new process often gets the old one's PID).
 */
export async function lockOwner(dataDir: string): Promise<LockOwner | undefined> {
  const text = await fs.readFile(lockFileOf(dataDir), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let owner: LockOwner;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    // Being written this instant, or damaged: held, to be safe; the message names the file.
    return { pid: Number.NaN };
  }
  if (owner.pid === process.pid || !isAlive(owner.pid)) return undefined;
  if (owner.port !== undefined && !(await answers(owner.port))) return undefined;
  return owner;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', timeout: 1000 });
    const settle = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.once('connect', () => settle(true));
    socket.once('timeout', () => settle(false));
    socket.once('error', () => resolve(false));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
