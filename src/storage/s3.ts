import type { S3Client } from '@aws-sdk/client-s3';
import type { StorageConfig } from '../config.js';
import {
  conflictOf,
  type FileRead,
  oneAtATime,
  plainListing,
  type ReadMany,
  type Storage,
  StorageError,
  type StoredFile,
  unreadFile,
  type WriteCondition,
  WriteConflict,
} from './types.js';

type S3Config = Extract<StorageConfig, { kind: 's3' }>;

/**
 * A bucket (and optional prefix) on AWS S3, MinIO or LocalStack. Keys below the prefix are the
 * storage keys, so a member's file_uri is the same whichever endpoint serves the bucket. The AWS
 * SDK is loaded only when a bucket is configured.
 */
export async function s3Storage(config: S3Config): Promise<Storage> {
  const { requestTimeoutMs } = config;
  const sdk = await import('@aws-sdk/client-s3');
  const client: S3Client = new sdk.S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    maxAttempts: 2,
  });
  const prefix = config.prefix ? `${config.prefix}/` : '';
  const where = `s3://${config.bucket}/${prefix}`;

  const fail = (key: string, error: unknown, deadline?: AbortSignal): never => {
    if (deadline?.aborted) throw new StorageError(`${where}${key}: no answer within ${requestTimeoutMs} ms`, 'unavailable', { cause: error });
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
    // Only S3's own "no such key" says a file is gone. Any other answer — a network error, 5xx, a
    // missing bucket (also a 404: NoSuchBucket), a 404 without an S3 error code from something in
    // between, refused credentials — is the storage's, and must not delete a member.
    const notFound = key !== '' && e.name === 'NoSuchKey';
    throw new StorageError(`${where}${key}: ${e.name ?? 'error'}${e.message ? `: ${e.message}` : ''}`, notFound ? 'not_found' : 'unavailable', {
      cause: error,
    });
  };

  /**
   * One operation on `key` ('' for the bucket) within its deadline: the signal goes with the
   * requests, and ends a body that stalls halfway too. Any failure is a StorageError.
   */
  const withDeadline = async <T>(key: string, operation: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    const abortSignal = AbortSignal.timeout(requestTimeoutMs);
    try {
      return await operation(abortSignal);
    } catch (error) {
      if (error instanceof WriteConflict) throw error;
      return fail(key, error, abortSignal);
    }
  };

  const read = (key: string, maxBytes: number) =>
    withDeadline(key, async (abortSignal) => {
      const object = await client.send(new sdk.GetObjectCommand({ Bucket: config.bucket, Key: prefix + key }), { abortSignal });
      return {
        bytes: await readAtMost(object.Body as AsyncIterable<Uint8Array> & { destroy?: () => void }, maxBytes + 1),
        version: unquote(object.ETag ?? ''),
      };
    });

  async function* list(): AsyncIterable<StoredFile[]> {
    let token: string | undefined;
    do {
      const page = await withDeadline('', (abortSignal) =>
        client.send(new sdk.ListObjectsV2Command({ Bucket: config.bucket, Prefix: prefix || undefined, ContinuationToken: token }), { abortSignal }),
      );
      const files: StoredFile[] = [];
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.endsWith('/')) continue;
        files.push({ key: object.Key.slice(prefix.length), version: unquote(object.ETag ?? '') });
      }
      if (files.length > 0) yield files;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      // A listing that says there is more but not where would end early: files unlisted are gone.
      if (page.IsTruncated && !token) throw new StorageError(`${where}: the listing is truncated without a continuation token`, 'unavailable');
    } while (token);
  }

  const versionsOf = async (keys: readonly string[]) => {
    // The listing tells ETags already; this answers for callers that ask anyway, 16 at a time.
    const versions = new Map<string, string>();
    for (let i = 0; i < keys.length; i += 16) {
      await Promise.all(
        keys.slice(i, i + 16).map((key) =>
          withDeadline(key, async (abortSignal) => {
            try {
              const head = await client.send(new sdk.HeadObjectCommand({ Bucket: config.bucket, Key: prefix + key }), { abortSignal });
              versions.set(key, unquote(head.ETag ?? ''));
            } catch (error) {
              if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw error;
            }
          }),
        ),
      );
    }
    return versions;
  };

  const turns = oneAtATime();

  const checkCondition = async (key: string, condition: WriteCondition | undefined) => {
    const conflict = condition && conflictOf(key, condition, (await versionsOf([key])).get(key));
    if (conflict) throw conflict;
  };

  /** A conditional request that the server refused as such: a WriteConflict. */
  const conditionally = async <T>(key: string, condition: WriteCondition | undefined, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      if (condition && (status === 412 || e.name === 'ConditionalRequestConflict')) throw new WriteConflict(key, condition.ifAbsent ? 'exists' : 'changed');
      if (condition?.ifVersion !== undefined && e.name === 'NoSuchKey') throw new WriteConflict(key, 'gone');
      throw error;
    }
  };

  // Sixteen requests in flight: each waits mostly for the network.
  const readMany: ReadMany = (keys, maxBytes) => readConcurrently(keys, 16, (key) => read(key, maxBytes));

  return {
    description: config.endpoint ? `${where} at ${config.endpoint}` : where,

    list: () => plainListing(list, readMany),

    read,

    readMany,

    versionsOf,

    // A condition is checked twice: by a HEAD just before (within this service's turn), and by
    // the PUT itself (If-Match / If-None-Match: *), which AWS S3 and MinIO refuse with 412 when
    // the object changed in between. A server that ignores those headers (s3rver does) leaves
    // only the check before, and the instant between it and the PUT unguarded.
    write: (key, content, condition) =>
      turns(async () => {
        await checkCondition(key, condition);
        const body = typeof content === 'string' ? Buffer.from(content) : content;
        await withDeadline(key, (abortSignal) =>
          conditionally(key, condition, () =>
            client.send(
              new sdk.PutObjectCommand({
                Bucket: config.bucket,
                Key: prefix + key,
                Body: body,
                ContentLength: body.byteLength,
                ContentType: 'application/x-yaml',
                ...(condition?.ifVersion !== undefined ? { IfMatch: `"${condition.ifVersion}"` } : {}),
                ...(condition?.ifAbsent ? { IfNoneMatch: '*' } : {}),
              }),
              { abortSignal },
            ),
          ),
        );
      }),

    delete: (key, condition) =>
      turns(async () => {
        await checkCondition(key, condition);
        await withDeadline(key, (abortSignal) =>
          conditionally(key, condition, () =>
            client.send(
              new sdk.DeleteObjectCommand({
                Bucket: config.bucket,
                Key: prefix + key,
                ...(condition?.ifVersion !== undefined ? { IfMatch: `"${condition.ifVersion}"` } : {}),
              }),
              { abortSignal },
            ),
          ),
        );
      }),

    // What the registry needs of a bucket is to list its prefix: asked as such, for no keys, since
    // a policy may allow that and still refuse HeadBucket (ListBucket granted for a prefix only).
    async check() {
      await withDeadline('', (abortSignal) =>
        client.send(new sdk.ListObjectsV2Command({ Bucket: config.bucket, Prefix: prefix || undefined, MaxKeys: 0 }), { abortSignal }),
      );
    },
  };
}

/**
 * Reads with up to `limit` files in flight or waiting to be taken, answering each as it arrives
 * (with the others that arrived meanwhile). A failure of the storage itself ends the whole read;
 * so does the caller leaving its `for await`, after which no more requests start.
 */
async function* readConcurrently(
  keys: readonly string[],
  limit: number,
  read: (key: string) => Promise<{ bytes: Uint8Array; version: string }>,
): AsyncIterable<FileRead[]> {
  let next = 0;
  let running = 0;
  let arrived: FileRead[] = [];
  let failed: { error: unknown } | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  const start = () => {
    while (!stopped && !failed && running + arrived.length < limit && next < keys.length) {
      const key = keys[next++]!;
      running++;
      read(key)
        .then(
          (file) => arrived.push({ key, ...file }),
          (error: unknown) => {
            try {
              arrived.push(unreadFile(key, error));
            } catch {
              failed ??= { error };
            }
          },
        )
        .finally(() => {
          running--;
          start();
          wake?.();
        });
    }
  };
  try {
    start();
    while (running > 0 || arrived.length > 0) {
      if (arrived.length === 0 && !failed) await new Promise<void>((resolve) => (wake = resolve));
      if (failed) throw failed.error;
      const group = arrived;
      arrived = [];
      if (group.length > 0) yield group;
      start();
    }
  } finally {
    // Reads still in flight finish on their own; their answers are not wanted.
    stopped = true;
  }
}

/**
 * At most `limit` bytes of a body; the rest is not downloaded. (A ranged GET would do the same,
 * but an empty object cannot satisfy a range, and some S3 servers fail it.)
 */
async function readAtMost(body: AsyncIterable<Uint8Array> & { destroy?: () => void }, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    length += chunk.byteLength;
    if (length >= limit) {
      body.destroy?.();
      break;
    }
  }
  return Buffer.concat(chunks, Math.min(length, limit));
}

/** ETags come quoted from some places and bare from others. */
function unquote(etag: string): string {
  return etag.replace(/^"(.*)"$/, '$1');
}
