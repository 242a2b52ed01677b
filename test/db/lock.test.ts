import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireFolderLock, lockOwner } from '../../src/db/lock.js';
import { tempDir } from '../helpers/files.js';

describe('the data folder lock', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let dataDir: string;
  beforeEach(async () => {
    work = await tempDir();
    dataDir = path.join(work.dir, 'pgdata');
  });
  afterEach(() => work.remove());
  const writeLock = (content: string) => fs.writeFile(`${dataDir}.lock`, content);

  it('refuses a second holder while the first lives, and publishes a port for others to use', async () => {
    await writeLock(JSON.stringify({ pid: 1 }));
    await expect(acquireFolderLock(dataDir)).rejects.toThrow(/in use by process 1/);
    await fs.rm(`${dataDir}.lock`);
    const lock = await acquireFolderLock(dataDir);
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    await lock.publishPort((server.address() as net.AddressInfo).port);
    // Owner-only, as everything of ours in the data folder, after the port went in as before.
    expect((await fs.stat(`${dataDir}.lock`)).mode & 0o777).toBe(0o600);
    expect(await fs.readdir(work.dir)).toEqual(['pgdata.lock']);
    // This process holds it: to itself, the lock reads as no other owner.
    expect(await lockOwner(dataDir)).toBeUndefined();
    server.close();
    await lock.release();
    await expect(fs.access(`${dataDir}.lock`)).rejects.toThrow();
  });

  it('takes over a lock left by a dead process, by this very PID, or with a port nobody answers on', async () => {
    for (const stale of [{ pid: 2 ** 22 + 12345 }, { pid: process.pid }, { pid: 1, port: 1 }]) {
      await writeLock(JSON.stringify(stale));
      const lock = await acquireFolderLock(dataDir);
      await lock.release();
    }
  });

  it('treats a lock file it cannot read as held, and names the file', async () => {
    await writeLock('{not json');
    await expect(acquireFolderLock(dataDir)).rejects.toThrow(/pgdata\.lock/);
  });
});
