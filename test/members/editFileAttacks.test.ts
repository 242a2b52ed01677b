import { describe, expect, it } from 'vitest';
import { editMemberFile, NotEditableError } from '../../src/members/editFile.js';

describe('editMemberFile on files with anchors and aliases', () => {
  it('refuses (to the YAML editor) rather than crash when another field aliases the value changed', () => {
    // An invalid file (unknown field) whose member keeps its last good data: the form is how a person may try to fix it.
    expect(() => editMemberFile('name: &n Rin\nnickname: *n\n', 'human', { name: 'Rio' })).toThrow(NotEditableError);
  });

  it('refuses (to the YAML editor) a file whose aliases expand beyond bounds, without expanding them', () => {
    const bomb = [
      'name: Rin',
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefghi'.split('').map((key, i) => `${key}: &${key} [${Array(10).fill(`*${'abcdefghi'[i]}`).join(', ')}]`),
      '',
    ].join('\n');
    expect(() => editMemberFile(bomb, 'human', { role: 'Lead' })).toThrow(NotEditableError);
  });

  it('keeps an unchanged list holding an alias byte for byte', () => {
    expect(editMemberFile('name: &n Rin\nrole: r\nskills: [*n, Go]\n', 'human', { name: 'Rin', role: 'q', skills: ['Rin', 'Go'] })).toBe(
      'name: &n Rin\nrole: q\nskills: [*n, Go]\n',
    );
  });
});

describe('editMemberFile on a file with CRLF line breaks', () => {
  it('writes the changed fields with CRLF too, so that the file keeps one kind of line break', () => {
    const text = 'name: Rin\r\nrole: dev # c\r\nbio: x\r\n';
    expect(editMemberFile(text, 'human', { bio: 'line1\nline2', github_username: 'rin-dev' })).toBe(
      'name: Rin\r\nrole: dev # c\r\nbio: |-\r\n  line1\r\n  line2\r\ngithub_username: rin-dev\r\n',
    );
  });
});
