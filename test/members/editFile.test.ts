import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { editMemberFile, NotEditableError, newMemberFile } from '../../src/members/editFile.js';
import { parseMemberFile } from '../../src/members/parse.js';

/** A file as people write them: aligned comments, a comment block, quotes, a literal block, a blank line. */
const rin = `# human_members/rin.yml — kept by hand
name: Rin                          # required; unique among humans
role: Backend engineer             # optional
skills: [TypeScript, PostgreSQL]   # a list
bio: |                             # free text
  Builds the registry.
  Likes tea.

# How to reach her:
contact_email: "rin@example.com"
github_username: rin-dev
`;

const kasen = `name: 華扇
llm_model: claude-sonnet-4-5   # the model
custom_prompt: |
  You review code kindly but strictly.
personality_traits:
  - calm    # first
  - curious
`;

describe('editing a member file', () => {
  it('changes only the field edited: comments, spacing, quotes, blank lines and key order stay byte for byte', () => {
    const edited = editMemberFile(rin, 'human', { role: 'Tech lead' });
    expect(edited).toBe(rin.replace('role: Backend engineer             # optional', 'role: Tech lead             # optional'));
  });

  it('leaves a file as it is when the form gives every field the value it has', () => {
    const same = {
      name: 'Rin',
      role: 'Backend engineer',
      skills: ['TypeScript', 'PostgreSQL'],
      bio: 'Builds the registry.\nLikes tea.\n',
      contact_email: 'rin@example.com',
      github_username: 'rin-dev',
    };
    expect(editMemberFile(rin, 'human', same)).toBe(rin);
  });

  it('edits several fields at once: a list keeps its flow style and comment, a multi-line text becomes a literal block', () => {
    const edited = editMemberFile(rin, 'human', { skills: ['TypeScript', 'Go', '日本語'], bio: 'Leads the team.\nStill likes tea.\n' });
    expect(edited).toBe(`# human_members/rin.yml — kept by hand
name: Rin                          # required; unique among humans
role: Backend engineer             # optional
skills: [TypeScript, Go, 日本語]   # a list
bio: |
  Leads the team.
  Still likes tea.

# How to reach her:
contact_email: "rin@example.com"
github_username: rin-dev
`);
  });

  it('removes a field emptied, with its line, and adds a new field at the end', () => {
    const edited = editMemberFile(rin, 'human', { role: '', github_username: null, name: 'Rin Sato' });
    expect(edited).toBe(`# human_members/rin.yml — kept by hand
name: Rin Sato                          # required; unique among humans
skills: [TypeScript, PostgreSQL]   # a list
bio: |                             # free text
  Builds the registry.
  Likes tea.

# How to reach her:
contact_email: "rin@example.com"
`);
    expect(editMemberFile('name: X\nrole: Y', 'human', { skills: ['a', 'b'] })).toBe('name: X\nrole: Y\nskills: [a, b]\n');
  });

  it('keeps an AI member’s prompt under custom_prompt, the older name, and block lists with their comments where unchanged', () => {
    const edited = editMemberFile(kasen, 'virtual', { system_prompt: 'You review code kindly.\nAnd briefly.\n', llm_model: 'claude-opus-4-1' });
    expect(edited).toBe(`name: 華扇
llm_model: claude-opus-4-1   # the model
custom_prompt: |
  You review code kindly.
  And briefly.
personality_traits:
  - calm    # first
  - curious
`);
    const parsed = parseMemberFile('virtual_members/kasen.yml', 'virtual', Buffer.from(edited));
    expect(parsed).toMatchObject({ ok: true, value: { member: { system_prompt: 'You review code kindly.\nAnd briefly.\n', llm_model: 'claude-opus-4-1' } } });
  });

  it('quotes what YAML would read as another type, so a value stays text; a number in the file becomes text on save', () => {
    const edited = editMemberFile('name: X\n', 'human', { role: 'true', github_username: '123' });
    expect(parse(edited)).toEqual({ name: 'X', role: 'true', github_username: '123' });
    expect(editMemberFile('name: X\nrole: 42  # the answer\n', 'human', { name: 'X', role: '42' })).toBe('name: X\nrole: "42"  # the answer\n');
  });

  it('quotes a list item that holds a full-width comma, so that it is saved as the one item the form gave (review)', () => {
    const made = newMemberFile('virtual', { name: '華扇', llm_model: 'm', expertise_areas: ['設計、レビュー', 'Go'] });
    expect(made).toContain('expertise_areas: ["設計、レビュー", Go]');
    expect(parseMemberFile('virtual_members/x.yml', 'virtual', Buffer.from(made))).toMatchObject({
      ok: true,
      value: { member: { expertise_areas: ['設計、レビュー', 'Go'] } },
    });
    const edited = editMemberFile('name: X\nskills: ["A，B"]\n', 'human', { name: 'Y' });
    expect(parseMemberFile('human_members/x.yml', 'human', Buffer.from(edited))).toMatchObject({
      ok: true,
      value: { member: { name: 'Y', skills: ['A，B'] } },
    });
  });

  it('falls back to the Document rendering for a flow mapping, still with the data intended', () => {
    const edited = editMemberFile('{name: X, role: Y}  # one line\n', 'human', { role: 'Z' });
    expect(parse(edited)).toEqual({ name: 'X', role: 'Z' });
    expect(edited).toContain('# one line');
  });

  it('refuses a file that is not one YAML mapping: the raw editor is for those', () => {
    expect(() => editMemberFile('name: [\n', 'human', { role: 'x' })).toThrow(NotEditableError);
    expect(() => editMemberFile('- a\n- b\n', 'human', { role: 'x' })).toThrow(NotEditableError);
  });
});

describe('a new member file', () => {
  it('lists the fields in the documented order, leaves empty ones out, and reads back as the member', () => {
    const text = newMemberFile('virtual', {
      expertise_areas: ['code review'],
      name: '華扇',
      llm_model: 'claude-sonnet-4-5',
      role: '',
      system_prompt: 'Line one.\nLine two.\n',
      personality_traits: [],
    });
    expect(text).toBe('name: 華扇\nllm_model: claude-sonnet-4-5\nsystem_prompt: |\n  Line one.\n  Line two.\nexpertise_areas: [code review]\n');
    expect(parseMemberFile('virtual_members/x.yml', 'virtual', Buffer.from(text))).toMatchObject({ ok: true });
  });
});
