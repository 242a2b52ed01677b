import { memberFolderOf } from './paths.js';
import type { MemberKind } from './schema.js';

/** Characters of a file name made from a name, before `.yml`: enough to tell members apart, short enough for any file system. */
const maxStemLength = 60;

/** Names Windows reserves for devices, whatever the extension (COM¹ to COM³ too): a folder synced to Windows could not hold them. */
const reservedStems = /^(?:con|prn|aux|nul|com[\d¹²³]|lpt[\d¹²³])$/;

/**
 * The file-name stem for a member's name, safe in any language and on any file system or bucket:
 * the name in Unicode NFC (so that `が` typed two ways is one name), lower case; letters, marks
 * and digits of any script kept (`佐藤-美香`), every other run of characters — spaces,
 * punctuation, `/`, `..`, emoji, controls — a single `-`; no `-` or `.` at either end; at most 60
 * characters (never splitting a character); `member` when nothing is left; a Windows device
 * name (`con`) gets `-member` after it.
 */
export function fileStemOf(name: string): string {
  const words = name
    .normalize('NFC')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}_]+/gu, '-');
  let stem = [...words.replace(/^[-_]+|[-_]+$/g, '')]
    .slice(0, maxStemLength)
    .join('')
    .replace(/[-_]+$/, '');
  if (stem === '') stem = 'member';
  return reservedStems.test(stem) ? `${stem}-member` : stem;
}

/**
 * Keys a new member's file may take, in order of preference: `human_members/rin.yml`, then
 * `human_members/rin-2.yml`, `-3`, … up to `count`. The caller takes the first that no file has,
 * and creates it only if it is still absent (a create never overwrites).
 */
export function fileKeysFor(kind: MemberKind, name: string, count = 20): string[] {
  const stem = fileStemOf(name);
  return Array.from({ length: count }, (_, i) => `${memberFolderOf[kind]}/${i === 0 ? stem : `${stem}-${i + 1}`}.yml`);
}
