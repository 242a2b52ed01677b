import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { makePrivate, replacePrivateFile } from '../privateFiles.js';
import { ChatStoreUnavailableError } from './store.js';

/**
 * The access key of the embedded chat log store's port: made once per data folder and kept beside
 * it (`.vecr/chatlogs.credentials`, 0600) in the AWS shared credentials format, so that other
 * `vecr` commands reach a running `vecr serve`'s store with it, and so can the AWS CLI:
 * `AWS_SHARED_CREDENTIALS_FILE=.vecr/chatlogs.credentials aws dynamodb list-tables --endpoint-url http://127.0.0.1:PORT`.
 */
export interface EmbeddedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

const credentialsFileOf = (dir: string) => `${dir}.credentials`;

/** The folder's access key, made now if it has none (or its file is damaged). Only the lock holder calls this. */
export async function ensureCredentials(dir: string): Promise<EmbeddedCredentials> {
  const file = credentialsFileOf(dir);
  const kept = parseCredentials(await fs.readFile(file, 'utf8').catch(() => ''));
  if (kept) {
    await makePrivate(file);
    return kept;
  }
  const credentials = {
    // Shaped like AWS's own (20 upper-case characters, 40 of secret), so that no tool balks at them.
    accessKeyId: `VECR${crypto.randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: crypto.randomBytes(30).toString('base64url'),
  };
  await replacePrivateFile(
    file,
    [
      '# The access key of the embedded chat log store that vecr serve runs on 127.0.0.1 (port: chatlogs.lock).',
      '[default]',
      `aws_access_key_id = ${credentials.accessKeyId}`,
      `aws_secret_access_key = ${credentials.secretAccessKey}`,
      '',
    ].join('\n'),
  );
  return credentials;
}

/** The access key of a data folder whose store a running `vecr serve` serves. */
export async function readCredentials(dir: string): Promise<EmbeddedCredentials> {
  const file = credentialsFileOf(dir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is missing (vecr serve writes it as it starts: restart it)' : (error as Error).message;
    throw new ChatStoreUnavailableError(`cannot read the access key of the embedded chat log store from ${file}: ${why}`);
  }
  const credentials = parseCredentials(text);
  if (!credentials) throw new ChatStoreUnavailableError(`${file} holds no access key for the embedded chat log store; restart vecr serve to write a new one`);
  return credentials;
}

/** The two keys of the file ensureCredentials writes. */
function parseCredentials(text: string): EmbeddedCredentials | undefined {
  const value = (key: string) => new RegExp(`^${key}\\s*=\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const accessKeyId = value('aws_access_key_id');
  const secretAccessKey = value('aws_secret_access_key');
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
}
