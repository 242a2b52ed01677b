import type { StorageConfig } from '../config.js';
import { folderStorage } from './folder.js';
import type { Storage } from './types.js';

export async function openStorage(config: StorageConfig): Promise<Storage> {
  if (config.kind === 'folder') return folderStorage(config.path);
  return (await import('./s3.js')).s3Storage(config);
}
