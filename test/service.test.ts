import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startService } from '../src/service.js';
import { human, tempDir, writeFiles } from './helpers/files.js';

/** Tests that start `vecr serve` (PGlite, dynalite) may wait long on a busy machine; nothing here is timed. */
const processTimeout = 180_000;

/** Whether anything accepts connections on this port of 127.0.0.1 now. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('closing the service', () => {
  let work: Awaited<ReturnType<typeof tempDir>> | undefined;
  afterEach(async () => {
    await work?.remove();
  });

  it(
    'closes every part even when closing one of them fails, and says which failed',
    async () => {
      work = await tempDir();
      await writeFiles(work.dir, { 'storage/human_members/rin.yml': human('Rin') });
      const dataDir = path.join(work.dir, 'data');
      const config = loadConfig({
        VECR_DATA_DIR: dataDir,
        VECR_STORAGE: path.join(work.dir, 'storage'),
        PORT: '0',
        VECR_PG_PORT: '0',
        VECR_RECONCILE_INTERVAL: '0',
        VECR_WATCH: 'false',
      });
      const service = await startService(config);
      const httpPort = Number(new URL(service.url).port);
      const pgPort = Number(new URL(service.pgUrl!).port);
      expect([await listening(httpPort), await listening(pgPort)]).toEqual([true, true]);

      // Closing the database's connections fails when the service closes them: a pool closed
      // already refuses to close again ("Called end on pool more than once").
      await service.context.db.close();
      await expect(service.close()).rejects.toThrow(/^closing the database connections failed: /);

      // The rest closed all the same: the HTTP port, the embedded database's port and its data
      // folder, the chat log store.
      expect([await listening(httpPort), await listening(pgPort)]).toEqual([false, false]);
      await expect(fs.access(path.join(dataDir, 'pgdata.lock'))).rejects.toThrow();
      await expect(service.context.chat!.check()).rejects.toThrow();
      await expect(fs.access(path.join(dataDir, 'chatlogs.lock'))).rejects.toThrow();
    },
    processTimeout,
  );

  it(
    'closes what it had opened when it cannot start, and says why it could not',
    async () => {
      work = await tempDir();
      await writeFiles(work.dir, { 'storage/human_members/rin.yml': human('Rin') });
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const taken = (blocker.address() as net.AddressInfo).port;
      const dataDir = path.join(work.dir, 'data');
      try {
        const config = loadConfig({
          VECR_DATA_DIR: dataDir,
          VECR_STORAGE: path.join(work.dir, 'storage'),
          PORT: String(taken),
          VECR_PG_PORT: '0',
          VECR_RECONCILE_INTERVAL: '0',
          VECR_WATCH: 'false',
        });
        await expect(startService(config)).rejects.toThrow(/EADDRINUSE/);
        // The embedded database and the chat log store were opened before the port was tried: both closed.
        await expect(fs.access(path.join(dataDir, 'pgdata.lock'))).rejects.toThrow();
        await expect(fs.access(path.join(dataDir, 'chatlogs.lock'))).rejects.toThrow();
      } finally {
        blocker.close();
      }
    },
    processTimeout,
  );
});
