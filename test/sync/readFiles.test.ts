import { hash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultLimits } from '../../src/members/parse.js';
import { folderStorage } from '../../src/storage/folder.js';
import type { FileRead, Storage } from '../../src/storage/types.js';
import { pacer } from '../../src/sync/pacer.js';
import { readFiles } from '../../src/sync/readFiles.js';
import { human, tempDir, writeFiles } from '../helpers/files.js';

describe('reading a batch of files', () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, remove } = await tempDir());
  });
  afterEach(() => remove());

  it('gives the event loop turns all along while it parses, not only once most files are parsed', async () => {
    const count = 1000;
    await writeFiles(dir, Object.fromEntries(Array.from({ length: count }, (_, i) => [`human_members/h${i}.yml`, human(`Human ${i}`)])));
    const inner = folderStorage(dir);
    // Every file read before parsing starts, all handed over at once: only readFiles can pace.
    let parsed = 0;
    const storage: Storage = {
      ...inner,
      async *readMany(keys, maxBytes) {
        const all: FileRead[] = [];
        for await (const group of inner.readMany(keys, maxBytes)) all.push(...group);
        yield all.map((file) => {
          if (file.error) return file;
          let taken = false;
          return {
            ...file,
            get bytes() {
              if (!taken) parsed++;
              taken = true;
              return file.bytes;
            },
          };
        });
      },
    };
    // What the event loop sees: how many files had been taken up at each of its turns.
    const turns: number[] = [];
    let reading = true;
    const turn = () => {
      turns.push(parsed);
      if (reading) setImmediate(turn);
    };
    setImmediate(turn);
    const batch = Array.from({ length: count }, (_, i) => ({ key: `human_members/h${i}.yml`, kind: 'human' as const }));
    const { files } = await readFiles(storage, batch, new Map(), defaultLimits);
    reading = false;
    expect(files.filter((f) => f.ok)).toHaveLength(count);
    // A query answer or an HTTP request waits no longer than a few files' parsing.
    expect(turns.some((n) => n > 0 && n < count / 2)).toBe(true);
  });

  it('a file whose bytes hash as when it was registered is not parsed again; any other file is', async () => {
    const broken = 'name: [\n';
    await writeFiles(dir, { 'human_members/same.yml': broken, 'human_members/edited.yml': broken, 'human_members/new.yml': human('Nell') });
    const registeredHashes = new Map([
      ['human_members/same.yml', hash('sha256', broken, 'hex')],
      ['human_members/edited.yml', hash('sha256', human('Ed'), 'hex')],
    ]);
    const batch = ['same', 'edited', 'new'].map((name) => ({ key: `human_members/${name}.yml`, kind: 'human' as const }));
    const { files, touched } = await readFiles(folderStorage(dir), batch, registeredHashes, defaultLimits);
    expect(touched).toEqual([{ file_uri: 'human_members/same.yml', version: expect.any(String) }]);
    expect(files.map((f) => [f.file_uri, f.ok]).sort()).toEqual([
      ['human_members/edited.yml', false],
      ['human_members/new.yml', true],
    ]);
  });

  it('a storage that leaves a file unanswered is failing: nothing is taken for gone', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob') });
    const inner = folderStorage(dir);
    const forgetful: Storage = {
      ...inner,
      async *readMany(keys, maxBytes) {
        for await (const group of inner.readMany(keys, maxBytes)) yield group.filter((file) => !file.key.endsWith('b.yml'));
      },
    };
    const batch = [
      { key: 'human_members/a.yml', kind: 'human' as const },
      { key: 'human_members/b.yml', kind: 'human' as const },
    ];
    await expect(readFiles(forgetful, batch, new Map(), defaultLimits)).rejects.toMatchObject({ failure: 'unavailable' });
  });
});

describe('pacer', () => {
  it('lets work go on until the interval has passed, then stops every caller for the same turn', async () => {
    let clock = 0;
    const pause = pacer(2, () => clock);
    expect(pause()).toBeUndefined();
    let waitingWorkRan = false;
    setImmediate(() => (waitingWorkRan = true));
    clock = 2;
    const first = pause();
    expect(first).toBeInstanceOf(Promise);
    expect(pause()).toBe(first);
    await first;
    expect(waitingWorkRan).toBe(true);
    expect(pause()).toBeUndefined();
  });
});
