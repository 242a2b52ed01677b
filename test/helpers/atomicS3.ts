import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type S3rver from 's3rver';

/** The parts of s3rver's filesystem store (lib/stores/filesystem.js) that objects go through. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  getObject(...args: unknown[]): Promise<unknown>;
  existsObject(...args: unknown[]): Promise<unknown>;
  listObjects(...args: unknown[]): Promise<unknown>;
  copyObject(...args: unknown[]): Promise<unknown>;
  deleteObject(...args: unknown[]): Promise<unknown>;
  putObject(object: { bucket: string; key: string; content: Buffer | Readable; metadata: Record<string, string> }): Promise<{ size: number; md5: string }>;
}

/**
 * Gives s3rver S3's atomic writes. Its store writes an object's bytes in place (truncated, then
 * written, the PUT answered before they are flushed) and its ETag and length as other files; a
 * GET or a listing in between sees an empty or cut object, or a length its bytes do not match
 * (the client's read is "aborted"). S3 never shows that: a PUT or DELETE is whole, and every read
 * after it sees it (strong read-after-write consistency). A test that changes objects while a
 * service reads them would otherwise see s3rver's faults, not the service's.
 *
 * Here each PUT writes its bytes to a file of their own and renames it into place; and a PUT, a
 * DELETE, a copy, a listing and the start of a GET (its length and ETag read, its file opened)
 * take turns. A GET under way then reads the bytes it opened, as a GET on S3 does when the object
 * is replaced meanwhile.
 */
export function atomicObjects(server: S3rver) {
  const store = (server as unknown as { store: FilesystemStore }).store;
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = turn.then(fn);
    turn = result.catch(() => {});
    return result;
  };
  for (const name of ['getObject', 'existsObject', 'listObjects', 'copyObject', 'deleteObject'] as const) {
    const original = store[name].bind(store);
    store[name] = (...args: unknown[]) => inTurn(() => original(...args));
  }
  let written = 0;
  store.putObject = async (object) => {
    const bytes = Buffer.isBuffer(object.content) ? object.content : Buffer.concat(await (object.content as Readable).toArray());
    const md5 = createHash('md5').update(bytes).digest('hex');
    return inTurn(async () => {
      const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
      // Not a name a listing takes for an object (those end in `._S3rver_object`).
      const partial = `${objectPath}.partial-${++written}`;
      await fs.mkdir(path.dirname(objectPath), { recursive: true });
      await fs.writeFile(partial, bytes);
      await store.putMetadata(object.bucket, object.key, object.metadata, md5);
      await fs.rename(partial, objectPath);
      return { size: bytes.length, md5 };
    });
  };
}
