import path from 'node:path';
import type { Config } from '../config.js';
import { acquireFolderLock, lockOwner } from '../db/lock.js';
import { preparePrivateDataFolder, preparePrivateFolder } from '../privateFiles.js';
import { startWorker } from '../workerThread.js';
import { type EmbeddedCredentials, ensureCredentials, readCredentials } from './credentials.js';
import { ChatStoreUnavailableError } from './errors.js';
import type { Sdk } from './sdk.js';
import { ChatStore } from './store.js';

/**
 * The configured chat log store: an endpoint (LocalStack, DynamoDB Local), AWS DynamoDB, or —
 * with nothing configured — dynalite, a DynamoDB-compatible server, in this process on
 * `VECR_DATA_DIR/chatlogs`. One code path (AWS SDK v3) for all of them. While a process serves
 * the embedded store, others reach it through the port it publishes in the lock file, with the
 * access key it keeps beside the folder.
 */
export async function openChatStore(config: Config): Promise<ChatStore> {
  const chat = config.chatlog;
  let endpoint = chat.endpoint;
  let onClose = async () => {};
  let description = endpoint ?? `AWS DynamoDB (${chat.region})`;
  // Emulators take any credentials; AWS uses its default chain unless keys are given.
  let credentials = chat.credentials ?? (endpoint ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined);
  if (chat.embedded) {
    const embedded = await embeddedEndpoint(path.join(config.dataDir, 'chatlogs'));
    endpoint = embedded.endpoint;
    onClose = embedded.close;
    description = embedded.description;
    // Its own key, whatever AWS_ACCESS_KEY_ID says (those are for the bucket).
    credentials = embedded.credentials;
  }
  const [dynamo, lib, util] = await Promise.all([import('@aws-sdk/client-dynamodb'), import('@aws-sdk/lib-dynamodb'), import('@aws-sdk/util-dynamodb')]);
  const raw = new dynamo.DynamoDBClient({
    region: chat.region,
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 3,
    // An endpoint that stops answering becomes an error (a 503) within seconds, not minutes.
    requestHandler: { connectionTimeout: 3000, requestTimeout: 10_000 },
  });
  // Numbers come from JSON and go back as JSON: doubles both ways (not BigInts, which JSON lacks).
  const toStore = { allowImpreciseNumbers: true };
  const fromStore = { wrapNumbers: (value: string) => Number(value) };
  // (Copies: the document client writes into the option objects it is given.)
  const doc = lib.DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true, ...toStore }, unmarshallOptions: { ...fromStore } });
  const sdk: Sdk = {
    DescribeTableCommand: dynamo.DescribeTableCommand,
    CreateTableCommand: dynamo.CreateTableCommand,
    UpdateTableCommand: dynamo.UpdateTableCommand,
    UpdateTimeToLiveCommand: dynamo.UpdateTimeToLiveCommand,
    waitUntilTableExists: dynamo.waitUntilTableExists,
    PutCommand: lib.PutCommand,
    GetCommand: lib.GetCommand,
    DeleteCommand: lib.DeleteCommand,
    QueryCommand: lib.QueryCommand,
    UpdateCommand: lib.UpdateCommand,
    ScanCommand: lib.ScanCommand,
    BatchGetCommand: lib.BatchGetCommand,
    BatchWriteCommand: lib.BatchWriteCommand,
    PlainQueryCommand: dynamo.QueryCommand,
    toAttributes: (values) => util.marshall(values, toStore),
    fromAttributes: (item) => util.unmarshall(item, fromStore),
  };
  return new ChatStore({ sdk, raw, doc, table: chat.table, description: `${chat.table} at ${description}`, ttlDays: chat.ttlDays, onClose });
}

/** The embedded store of a data folder's `chatlogs`: where it answers and the key it takes. */
interface EmbeddedStore {
  endpoint: string;
  credentials: EmbeddedCredentials;
  description: string;
  close(): Promise<void>;
}

/**
 * The embedded store in `dir`: the one another process serves (its port from the lock file, its
 * key from the credentials file), or a new one on a thread of this process.
 */
async function embeddedEndpoint(dir: string): Promise<EmbeddedStore> {
  const owner = await lockOwner(dir);
  if (owner?.port) {
    return {
      endpoint: `http://127.0.0.1:${owner.port}`,
      credentials: await readCredentials(dir),
      description: `the embedded store of process ${owner.pid}`,
      close: async () => {},
    };
  }
  await preparePrivateDataFolder(path.dirname(dir));
  const lock = await acquireFolderLock(dir, { what: 'the embedded chat log store', instead: 'or set CHATLOG_DYNAMODB_ENDPOINT' });
  try {
    await preparePrivateFolder(dir);
    const credentials = await ensureCredentials(dir);
    const worker = startWorker(import.meta.url, 'embeddedServer', { path: dir, credentials });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (message: { port?: number; error?: string }) => (message.port ? resolve(message.port) : reject(new Error(message.error))));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the embedded store stopped (exit code ${code})`)));
    });
    await lock.publishPort(port);
    return {
      endpoint: `http://127.0.0.1:${port}`,
      credentials,
      description: `embedded (dynalite in ${dir})`,
      close: async () => {
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        worker.postMessage('stop');
        await exited;
        await lock.release();
      },
    };
  } catch (error) {
    await lock.release();
    throw new ChatStoreUnavailableError(`cannot start the embedded chat log store in ${dir}: ${(error as Error).message}`);
  }
}
