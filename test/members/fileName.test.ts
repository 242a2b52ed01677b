import { describe, expect, it } from 'vitest';
import { fileKeysFor, fileStemOf } from '../../src/members/fileName.js';
import { memberKindOf, unusableKey } from '../../src/members/paths.js';

describe('the file name of a new member', () => {
  it('keeps letters and digits of any script, in NFC, lower case; other runs become one hyphen', () => {
    expect(fileStemOf('Rin')).toBe('rin');
    expect(fileStemOf('佐藤 美香')).toBe('佐藤-美香');
    expect(fileStemOf('華扇')).toBe('華扇');
    // が as か + combining dakuten, as some keyboards and macOS file names give it.
    expect(fileStemOf('\u304b\u3099ん')).toBe('がん');
    expect(fileStemOf('Émile  Zola!')).toBe('émile-zola');
    expect(fileStemOf('Dr. Who (AI)')).toBe('dr-who-ai');
  });

  it('lets no path, dot file, emoji, control character or device name through', () => {
    expect(fileStemOf('../../etc/passwd')).toBe('etc-passwd');
    expect(fileStemOf('.hidden')).toBe('hidden');
    expect(fileStemOf('a/b\\c')).toBe('a-b-c');
    expect(fileStemOf('🤖 Bot 🚀')).toBe('bot');
    expect(fileStemOf('🤖🚀')).toBe('member');
    expect(fileStemOf('tab\there\u0000nul')).toBe('tab-here-nul');
    expect(fileStemOf('CON')).toBe('con-member');
    expect(fileStemOf('lpt1')).toBe('lpt1-member');
    for (const name of ['../../x', '🤖', 'a'.repeat(1000), '  ', 'CON', '華'.repeat(300)]) {
      const [key] = fileKeysFor('human', name);
      expect(memberKindOf(key!)).toBe('human');
      expect(unusableKey(key!)).toBeUndefined();
    }
  });

  it('is at most 60 characters before .yml, never splitting a character', () => {
    expect(fileStemOf('華'.repeat(300))).toBe('華'.repeat(60));
    expect([...fileStemOf('𠮷'.repeat(100))]).toHaveLength(60);
    expect(fileStemOf(`${'a'.repeat(59)} b`)).toBe('a'.repeat(59));
  });

  it('offers the plain name first, then -2, -3, … in the kind’s folder', () => {
    expect(fileKeysFor('virtual', '華扇', 3)).toEqual(['virtual_members/華扇.yml', 'virtual_members/華扇-2.yml', 'virtual_members/華扇-3.yml']);
    expect(fileKeysFor('human', 'Rin')[19]).toBe('human_members/rin-20.yml');
  });
});

describe('fileStemOf and Windows device names with superscript digits', () => {
  it('keeps COM¹ and LPT³ off the device names Windows reserves', () => {
    expect(fileStemOf('COM¹')).toBe('com¹-member');
    expect(fileStemOf('lpt³')).toBe('lpt³-member');
  });
});
