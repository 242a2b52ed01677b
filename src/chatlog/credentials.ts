import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { makePrivate, readKeptSecret, replacePrivateFile } from '../privateFiles.js';
import { ChatStoreUnavailableError } from './errors.js';

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
  return readKeptSecret(credentialsFileOf(dir), {
    what: 'the access key of the embedded chat log store',
    missing: 'no access key for the embedded chat log store',
    parse: parseCredentials,
    failure: (message) => new ChatStoreUnavailableError(message),
  });
}

/** The two keys of the file ensureCredentials writes. */
function parseCredentials(text: string): EmbeddedCredentials | undefined {
  const value = (key: string) => new RegExp(`^${key}\\s*=\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const accessKeyId = value('aws_access_key_id');
  const secretAccessKey = value('aws_secret_access_key');
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
}
