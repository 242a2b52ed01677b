import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { folderStorage } from '../../src/storage/folder.js';
import { tempDir, writeFiles } from '../helpers/files.js';

describe('folder storage', () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, remove } = await tempDir());
  });
  afterEach(() => remove());

  it('lists every file below the root once, in key order (UTF-8 bytes), a page at a time', async () => {
    const keys = [
      ...Array.from({ length: 2100 }, (_, i) => `human_members/h${String(i).padStart(4, '0')}.yml`),
      // A folder's files sort as their keys: `a/x` after `a-b`, `😀` (beyond U+FFFF) after U+E000.
      'human_members/a/x.yml',
      'human_members/a-b.yml',
      'human_members/\u{1F600}.yml',
      'human_members/\uE000.yml',
      'notes/readme.txt',
      ...Array.from({ length: 5 }, (_, i) => `virtual_members/v${i}.yml`),
    ].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    await writeFiles(dir, Object.fromEntries(keys.map((key) => [key, 'name: x\n'])));
    const pages: string[][] = [];
    for await (const page of folderStorage(dir).list()) pages.push(page.map((file) => file.key));
    expect(pages.flat()).toEqual(keys);
    expect(pages.length).toBeGreaterThan(1);
    expect(Math.max(...pages.map((page) => page.length))).toBeLessThanOrEqual(1000);
  });

  it('leaves out names that are not UTF-8: they cannot be keys', async () => {
    await writeFiles(dir, { 'human_members/ann.yml': 'name: Ann\n', 'human_members/zoe.yml': 'name: Zoe\n' });
    // Two Latin-1 names that a UTF-8 decoder would both turn into `caf\uFFFD.yml`.
    for (const byte of [0xe8, 0xe9]) fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/human_members/caf`), Buffer.from([byte]), Buffer.from('.yml')]), 'name: x\n');
    const keys: string[] = [];
    for await (const page of folderStorage(dir).list()) keys.push(...page.map((file) => file.key));
    expect(keys).toEqual(['human_members/ann.yml', 'human_members/zoe.yml']);
  });
});
