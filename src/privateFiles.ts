import crypto from 'node:crypto';
import fs from 'node:fs/promises';

/**
 * The embedded stores keep members' personal data, chat logs and the secrets of their ports under
 * VECR_DATA_DIR: what we create there is readable by its owner only — folders 0700, files 0600 —
 * whatever the umask (PGlite itself creates its files world-writable; a private folder around
 * them is what keeps other users out).
 */
const privateFolderMode = 0o700;
const privateFileMode = 0o600;

/**
 * Creates the data folder (VECR_DATA_DIR) if need be, private. An existing one is tightened only
 * when nothing in it is foreign to us: it may be a folder the user shares with other things
 * (their home, /tmp), which is not ours to lock; what we keep in it is private by itself then.
 */
export async function preparePrivateDataFolder(dataDir: string): Promise<void> {
  const created = await fs.mkdir(dataDir, { recursive: true, mode: privateFolderMode }).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EEXIST' || error.code === 'ENOTDIR'
      ? new Error(`the data folder ${dataDir} (VECR_DATA_DIR, --data-dir) is a file, not a folder`)
      : error;
  });
  if (created !== undefined || (await fs.readdir(dataDir)).every(isOurs)) await tighten(dataDir, privateFolderMode);
}

/** Folders and files we keep in the data folder: `pgdata`, `chatlogs`, their `.lock`, `.pgpass`, ..., and `ui-session.key`. */
const isOurs = (name: string) => /^(pgdata|chatlogs)(\..+)?$/.test(name) || name === 'ui-session.key';

/** A store's own folder (pgdata, chatlogs): created private, or made private if it is not. */
export async function preparePrivateFolder(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: privateFolderMode });
  await tighten(dir, privateFolderMode);
}

/**
 * Sets a mode unless it is already so. A folder owned by another user (a volume mounted for us)
 * cannot be changed and is left as it is: refusing to start over it would help nobody.
 */
async function tighten(target: string, mode: number): Promise<void> {
  const stat = await fs.stat(target);
  if ((stat.mode & 0o777) === mode) return;
  await fs.chmod(target, mode).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPERM') throw error;
  });
}

/** Creates a new file, owner-only; fails with EEXIST when the name is taken (a lock). */
export async function createPrivateFile(file: string, content: string): Promise<void> {
  await fs.writeFile(file, content, { flag: 'wx', mode: privateFileMode });
  // The mode given to open() is narrowed by the umask, never widened: this only undoes an
  // unusual umask that left the owner unable to read or write.
  await fs.chmod(file, privateFileMode);
}

/** Writes a file, owner-only, in one step: a reader sees the old content or the new, never half. */
export async function replacePrivateFile(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  try {
    await createPrivateFile(temporary, content);
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

/** Makes an existing file of ours owner-only (one written by an older version, or copied in). */
export async function makePrivate(file: string): Promise<void> {
  await tighten(file, privateFileMode);
}

/**
 * A secret `vecr serve` keeps beside its data folder, read by another process: `what` names it
 * ("the password of the embedded database"), `missing` how the file lacks it ("no password for
 * the embedded database"), and `failure` makes the caller's own error (an outage of its store).
 */
export async function readKeptSecret<T>(
  file: string,
  secret: { what: string; missing: string; parse: (text: string) => T | undefined; failure: (message: string, cause?: unknown) => Error },
): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is missing (vecr serve writes it as it starts: restart it)' : (error as Error).message;
    throw secret.failure(`cannot read ${secret.what} from ${file}: ${why}`, error);
  }
  const value = secret.parse(text);
  if (value === undefined) throw secret.failure(`${file} holds ${secret.missing}; restart vecr serve to write a new one`);
  return value;
}
