import S3rver from 's3rver';
import type { StorageConfig } from '../../src/config.js';
import { s3Storage } from '../../src/storage/s3.js';
import type { Storage } from '../../src/storage/types.js';
import { tempDir } from './files.js';

export const testBucket = 'vecr-garage-storage';

export interface TestS3 {
  endpoint: string;
  config: Extract<StorageConfig, { kind: 's3' }>;
  storage: Storage;
  /** Notifications s3rver sends for its own puts and deletes (AWS-shaped). */
  server: S3rver;
  close(): Promise<void>;
}

/** A real S3-protocol server (s3rver), in-process, on a free port, with an empty bucket. */
export async function startS3(options: { prefix?: string; bucket?: string } = {}): Promise<TestS3> {
  const bucket = options.bucket ?? testBucket;
  const dir = await tempDir('vecr-s3-');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir.dir, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const config = {
    kind: 's3' as const,
    bucket,
    prefix: options.prefix ?? '',
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestTimeoutMs: 10_000,
  };
  return {
    endpoint,
    config,
    storage: await s3Storage(config),
    server,
    async close() {
      await server.close();
      await dir.remove();
    },
  };
}
