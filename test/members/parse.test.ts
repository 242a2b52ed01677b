import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssue } from '../../src/members/issues.js';
import { defaultLimits, describeIssue, didYouMean, parseCarefully, parseMemberFile } from '../../src/members/parse.js';
import { memberKindOf } from '../../src/members/paths.js';
import { githubLoginPattern, memberJsonSchema } from '../../src/members/schema.js';

const parse = (text: string | Uint8Array, kind: 'human' | 'virtual' = 'human', limits = defaultLimits) =>
  parseMemberFile(`${kind}_members/x.yml`, kind, typeof text === 'string' ? Buffer.from(text) : text, limits);

function issuesOf(text: string | Uint8Array, kind: 'human' | 'virtual' = 'human') {
  const result = parse(text, kind);
  if (result.ok) throw new Error(`expected issues, got ${JSON.stringify(result.value)}`);
  return result.issues;
}

describe('parseMemberFile: valid files', () => {
  it('reads a human with every field', () => {
    const result = parse(
      'name: Rin\nrole: Backend engineer\nskills: [TypeScript, PostgreSQL]\nbio: |\n  Builds the registry.\ncontact_email: rin@example.com\ngithub_username: rin-dev\n',
    );
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'human',
        member: {
          name: 'Rin',
          role: 'Backend engineer',
          skills: ['TypeScript', 'PostgreSQL'],
          bio: 'Builds the registry.\n',
          contact_email: 'rin@example.com',
          github_username: 'rin-dev',
        },
      },
    });
  });

  it('reads an AI member with a Japanese name, absent fields as null', () => {
    const result = parse('name: 華扇\nllm_model: claude-sonnet-4-5\nexpertise_areas: [code review]\n', 'virtual');
    expect(result.ok && result.value.member).toEqual({
      name: '華扇',
      role: null,
      llm_model: 'claude-sonnet-4-5',
      system_prompt: null,
      personality_traits: null,
      expertise_areas: ['code review'],
    });
  });

  it('takes custom_prompt, the older name, as system_prompt', () => {
    const result = parse('name: Darcy\nllm_model: gpt-4o\ncustom_prompt: Be kind.\n', 'virtual');
    expect(result.ok && result.value.kind === 'virtual' && result.value.member.system_prompt).toBe('Be kind.');
  });

  it('accepts an explicit !!str tag and a UTF-8 byte order mark', () => {
    const result = parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('name: !!str 123\n')]));
    expect(result.ok && result.value.member.name).toBe('123');
  });
});

describe('parseMemberFile: the failures the original system knew', () => {
  it('a file without name', () => {
    expect(issuesOf('role: Engineer\n')).toMatchObject([{ field: 'name', code: 'required', message: 'is required' }]);
  });

  it('an empty file and a comment-only file', () => {
    expect(issuesOf('')).toMatchObject([{ code: 'empty' }]);
    expect(issuesOf('# nothing here yet\n\n# still nothing\n')).toMatchObject([{ code: 'empty' }]);
    expect(issuesOf('---\n')).toMatchObject([{ code: 'empty' }]);
  });

  it('a virtual member without llm_model', () => {
    expect(issuesOf('name: Kasen\nrole: Reviewer\n', 'virtual')).toMatchObject([{ field: 'llm_model', code: 'required' }]);
  });
});

describe('parseMemberFile: each rule, with field and position', () => {
  it('no silent coercion: a number where a string belongs, with line and column', () => {
    const [issue] = issuesOf('role: x\nname: 123\n');
    expect(issue).toMatchObject({ file: 'human_members/x.yml', field: 'name', code: 'type', line: 2, column: 7 });
    expect(issue!.hint).toContain('"123"');
  });

  it('a string where a list belongs, and a non-string list item', () => {
    expect(issuesOf('name: A\nskills: TypeScript\n')).toMatchObject([{ field: 'skills', code: 'type', line: 2, hint: 'write a list: [TypeScript]' }]);
    expect(issuesOf('name: A\nskills:\n  - a\n  - true\n')).toMatchObject([{ field: 'skills[1]', code: 'type', line: 4, column: 5 }]);
  });

  it('unknown keys, with "did you mean" for near misses', () => {
    const issues = issuesOf('name: A\nskils: [x]\nfavourite_colour: red\n');
    expect(issues).toMatchObject([
      { field: 'skils', code: 'unknown_field', line: 2, column: 1, hint: 'did you mean skills?' },
      { field: 'favourite_colour', code: 'unknown_field', line: 3 },
    ]);
    expect(issues[1]!.hint).toContain('known fields');
    expect(issuesOf('name: A\nllm-model: x\n', 'virtual').find((i) => i.code === 'unknown_field')?.hint).toBe('did you mean llm_model?');
  });

  it('both system_prompt and custom_prompt', () => {
    expect(issuesOf('name: A\nllm_model: m\nsystem_prompt: a\ncustom_prompt: b\n', 'virtual')).toMatchObject([
      { code: 'both_prompts', field: 'custom_prompt' },
    ]);
  });

  it('lengths of VARCHAR(255) columns, empty required values', () => {
    expect(issuesOf(`name: ${'x'.repeat(256)}\n`)).toMatchObject([{ field: 'name', code: 'too_long' }]);
    expect(parse(`name: ${'x'.repeat(255)}\n`).ok).toBe(true);
    expect(issuesOf('name: ""\n')).toMatchObject([{ field: 'name', code: 'empty_value' }]);
  });

  it('e-mail addresses and GitHub logins', () => {
    expect(issuesOf('name: A\ncontact_email: not-an-address\n')).toMatchObject([{ field: 'contact_email', code: 'format' }]);
    for (const login of ['-rin', 'rin-', 'r--n', 'a'.repeat(40), 'rin_dev']) {
      expect(issuesOf(`name: A\ngithub_username: ${login}\n`)).toMatchObject([{ field: 'github_username', code: 'format' }]);
    }
    expect(parse(`name: A\ngithub_username: ${'a'.repeat(39)}\n`).ok).toBe(true);
  });

  it('NUL characters, lone surrogates and bytes that are not UTF-8', () => {
    expect(issuesOf('name: "a\\0b"\n')).toMatchObject([{ field: 'name', code: 'nul' }]);
    expect(issuesOf('name: A\nskills: ["ok", "x\\0"]\n')).toMatchObject([{ field: 'skills[1]', code: 'nul' }]);
    expect(issuesOf('name: "\\uD800"\n')).toMatchObject([{ field: 'name', code: 'encoding' }]);
    expect(parse('name: "\\uD83D\\uDE00"\n').ok).toBe(true);
    expect(issuesOf(Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xff, 0x0a]))).toMatchObject([{ code: 'encoding', line: 1, column: 7 }]);
    // The first invalid byte, even after a legitimate U+FFFD.
    expect(issuesOf(Buffer.concat([Buffer.from('name: \uFFFD\nrole: '), Buffer.from([0xc3, 0x28])]))).toMatchObject([{ code: 'encoding', line: 2, column: 7 }]);
  });

  it('a name that would look the same as another: spaces at an end, invisible characters, a decomposed form', () => {
    const lookAlike = (text: string, kind: 'human' | 'virtual' = 'human') => issuesOf(text, kind).filter((issue) => issue.field === 'name');
    // Quoted, a space at either end stays: "Rin " and "Rin" would be two members — an ideographic space too.
    expect(lookAlike('name: "Rin "\n')).toMatchObject([
      { code: 'look_alike', line: 1, column: 7, message: expect.stringContaining('ends with a space (U+0020)') },
    ]);
    expect(lookAlike('name: "\u3000太郎"\n')).toMatchObject([{ code: 'look_alike', message: expect.stringContaining('begins with a space (U+3000)') }]);
    // A zero-width space, a byte-order mark, a soft hyphen, a left-to-right mark: shown as nothing.
    for (const [written, point] of [
      ['\u200B', 'U+200B'],
      ['\uFEFF', 'U+FEFF'],
      ['\u00AD', 'U+00AD'],
      ['\u200E', 'U+200E'],
    ]) {
      expect(lookAlike(`name: "Ri${written}n"\nllm_model: m\n`, 'virtual')).toMatchObject([
        { code: 'look_alike', message: expect.stringContaining(`the invisible character ${point} (at character 3)`) },
      ]);
    }
    // A joiner at an end joins nothing.
    expect(lookAlike('name: "Rin\u200D"\n')).toMatchObject([{ code: 'look_alike', message: expect.stringContaining('U+200D') }]);
    // が as か and a combining voiced mark (as macOS writes file names): NFC is one character.
    expect(lookAlike('name: "\u304B\u3099ん"\n')).toMatchObject([{ code: 'look_alike', message: expect.stringContaining('NFC') }]);
    // A path's own parts: no URL can point at a member named so (/members/human/.. is /members/).
    expect(lookAlike('name: "."\n')).toMatchObject([{ code: 'reserved_name', message: expect.stringContaining('no URL can name') }]);
    expect(lookAlike('name: ".."\nllm_model: m\n', 'virtual')).toMatchObject([{ code: 'reserved_name' }]);
    expect(parse('name: "..."\n').ok).toBe(true);
    // What stays valid: the composed form, inner spaces, an emoji joined by ZWJ, a ZWNJ inside Persian.
    for (const name of ['がん', 'Rin Tanaka', '山田 太郎', '\u{1F469}\u200D\u{1F4BB}', 'می\u200Cخواهم']) expect(parse(`name: "${name}"\n`).ok).toBe(true);
  });

  it('control characters in names, roles, models and list items, which would act on a terminal or reorder what follows', () => {
    // An ESC sequence (recolours a terminal), a carriage return, a right-to-left override.
    expect(issuesOf('name: "Rin\\e[31m"\n')).toMatchObject([
      { field: 'name', code: 'control_character', line: 1, column: 7, message: expect.stringContaining('U+001B (at character 4)') },
    ]);
    expect(issuesOf('name: A\nrole: "Dev\\rOps"\n')).toMatchObject([{ field: 'role', code: 'control_character', line: 2 }]);
    expect(issuesOf('name: "\u202Enimda"\n')).toMatchObject([{ field: 'name', code: 'control_character' }]);
    expect(issuesOf('name: A\nskills: [ok, "tab\\there"]\n')).toMatchObject([{ field: 'skills[1]', code: 'control_character' }]);
    expect(issuesOf('name: A\nllm_model: "m\\x85"\n', 'virtual')).toMatchObject([{ field: 'llm_model', code: 'control_character' }]);
    // A NUL is reported once, as what PostgreSQL cannot store.
    expect(issuesOf('name: "a\\0b"\n')).toHaveLength(1);
    // Free text keeps its line ends and tabs.
    expect(parse('name: A\nbio: "line one\\n\\tline two"\n').ok).toBe(true);
    expect(parse('name: A\nllm_model: m\nsystem_prompt: |\n  Be kind.\n  Be brief.\n', 'virtual').ok).toBe(true);
  });

  it('hints quote the value as written', () => {
    expect(issuesOf('name: 1.10\n')[0]!.hint).toBe('quote it: "1.10"');
    expect(issuesOf('name: A\nrole: 0x1F\n')[0]!.hint).toBe('quote it: "0x1F"');
  });

  it('exactly one document whose root is a mapping', () => {
    expect(issuesOf('name: A\n---\nname: B\n')).toMatchObject([{ code: 'documents', line: 2 }]);
    expect(issuesOf('---\n---\nname: A\n')).toMatchObject([{ code: 'documents' }]);
    expect(issuesOf('- name: A\n')).toMatchObject([{ code: 'not_a_mapping' }]);
    expect(issuesOf('just a string\n')).toMatchObject([{ code: 'not_a_mapping' }]);
  });

  it('YAML syntax errors with their position', () => {
    expect(issuesOf('name: [unclosed\n')).toMatchObject([{ code: 'yaml' }]);
    expect(issuesOf('name: A\nrole: "unterminated\n')[0]).toMatchObject({ code: 'yaml', message: 'Missing closing "quote', line: 3 });
  });
});

describe('parseMemberFile: hostile input', () => {
  it('refuses files over the size limit before parsing them', () => {
    expect(issuesOf(Buffer.alloc(defaultLimits.maxBytes + 1, 'a'))).toMatchObject([
      { code: 'too_large', message: `is larger than ${defaultLimits.maxBytes} bytes, the limit` },
    ]);
  });

  it('refuses duplicate keys', () => {
    expect(issuesOf('name: A\nname: B\n')).toMatchObject([{ code: 'yaml', line: 2 }]);
  });

  it('refuses custom tags', () => {
    expect(issuesOf('name: !js/function "x"\n')).toMatchObject([{ code: 'yaml', line: 1, column: 7 }]);
    expect(issuesOf('name: A\nbio: !!binary aGVsbG8=\n')).toMatchObject([{ code: 'yaml', line: 2 }]);
    expect(issuesOf('name: A\nskills: [!!python/object x]\n')).toMatchObject([{ code: 'yaml', line: 2 }]);
    expect(parse('!!map\nname: A\n').ok).toBe(true);
  });

  it('refuses alias-expansion bombs', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [prev, next] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'e'],
      ['e', 'f'],
    ] as const) {
      bomb.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    expect(issuesOf(`${bomb.join('\n')}\n`)).toMatchObject([{ code: 'aliases' }]);
  });

  it('refuses deep nesting without overflowing the stack', () => {
    // 50,000 nested block sequences crash the YAML composer's error formatting if let through.
    expect(issuesOf(`${'- '.repeat(50_000)}x\n`)).toMatchObject([{ code: 'too_deep' }]);
    expect(issuesOf(`name: ${'['.repeat(100_000)}\n`)).toMatchObject([{ code: 'too_deep' }]);
  });
});

describe('the fast and the careful reader', () => {
  // parseMemberFile reads most files with its own flat reader and falls back to the yaml package; a file's
  // verdict must not depend on which reader took it.
  const corpus: Array<[string, 'human' | 'virtual']> = [
    ['name: Rin\nrole: Backend\nskills: [a, b]\nbio: |\n  text\ncontact_email: r@example.com\ngithub_username: rin\n', 'human'],
    ['name: 華扇\nllm_model: m\nsystem_prompt: >\n  folded\n  text\n', 'virtual'],
    ['--- name: A\n', 'human'],
    ['name: A\rrole: x\r', 'human'],
    ['name: A\r\nrole: x\r\n', 'human'],
    ['%YAML 1.2\n---\nname: A\n', 'human'],
    ['%FOO bar\n---\nname: A\n', 'human'],
    ['%TAG !e! tag:example.com,2000:\n---\nname: !e!x A\n', 'human'],
    ['name: !<tag:yaml.org,2002:str> A\n', 'human'],
    ['name: A\nbio: 5 stars\n', 'human'],
    ['name: A\nrole: yes\n', 'human'],
    ['name: A\nrole: ~\n', 'human'],
    ['name: "A"\nskills: []\n', 'human'],
    ['{name: A, role: B}\n', 'human'],
    ['name: A\nrole: 0o17\n', 'human'],
    ['name: A # comment\nrole: "x" # c\n', 'human'],
    ['? name\n: A\n', 'human'],
    ['name:\n  A\n', 'human'],
    ['name: A\n...\n', 'human'],
    ['name: "tab\\there"\n', 'human'],
    ["name: 'single ''quoted'''\n", 'human'],
    ['name: A\nskills:\n- x\n- y\n', 'human'],
    ['name: A\n<<: {role: x}\n', 'human'],
  ];
  it.each(corpus)('%j', (text, kind) => {
    const file = `${kind}_members/x.yml`;
    const careful = parseCarefully(file, kind, text, defaultLimits);
    const either = parseMemberFile(file, kind, Buffer.from(text));
    expect(either.ok).toBe(careful.ok);
    if (either.ok && careful.ok) expect(either.value).toEqual(careful.value);
  });

  it('accepts aliases within the limit', () => {
    const result = parse('name: &n Rin\nrole: *n\nskills: [&s TS, *s]\n');
    expect(result.ok && result.value.member).toMatchObject({ name: 'Rin', role: 'Rin', skills: ['TS', 'TS'] });
  });
});

describe('formatIssue', () => {
  it('prints file:line:column: field: message (hint)', () => {
    expect(
      formatIssue({
        file: 'human_members/a.yml',
        field: 'skils',
        line: 2,
        column: 1,
        code: 'unknown_field',
        message: 'is not a field',
        hint: 'did you mean skills?',
      }),
    ).toBe('human_members/a.yml:2:1: skils: is not a field (did you mean skills?)');
  });
});

describe('memberKindOf', () => {
  it('decides the kind by the parent folder, at any depth, for .yml and .yaml only', () => {
    expect(memberKindOf('human_members/rin.yml')).toBe('human');
    expect(memberKindOf('data/samples/human_members/syota.yaml')).toBe('human');
    expect(memberKindOf('virtual_members/華扇.yml')).toBe('virtual');
    expect(memberKindOf('human_members/notes.txt')).toBeUndefined();
    expect(memberKindOf('human_members/nested/rin.yml')).toBeUndefined();
    expect(memberKindOf('rin.yml')).toBeUndefined();
    expect(memberKindOf('human_members/.hidden.yml')).toBeUndefined();
    expect(memberKindOf('/human_members.yml')).toBeUndefined();
    // Names that an object would answer from its prototype.
    for (const folder of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) expect(memberKindOf(`${folder}/x.yml`)).toBeUndefined();
  });
});

describe('didYouMean', () => {
  it('matches case, separators and small typos, and nothing far off', () => {
    expect(didYouMean('GitHub-Username', ['github_username'])).toBe('github_username');
    expect(didYouMean('rol', ['role', 'name'])).toBe('role');
    expect(didYouMean('colour', ['role', 'name'])).toBeUndefined();
  });
});

describe('memberJsonSchema', () => {
  it('describes the fields, required ones and unknown keys refused', () => {
    const human = memberJsonSchema('human');
    expect(human).toMatchObject({ type: 'object', required: ['name'], additionalProperties: false });
    expect(Object.keys(human.properties as object)).toEqual(['name', 'role', 'skills', 'bio', 'contact_email', 'github_username']);
    // A format of our own is a pattern to other tools: a strict validator refuses formats it does not know.
    expect((human.properties as Record<string, { anyOf: unknown[] }>).github_username!.anyOf[0]).toEqual({
      type: 'string',
      pattern: githubLoginPattern.source,
    });
    const virtual = memberJsonSchema('virtual');
    expect(virtual).toMatchObject({ required: ['name', 'llm_model'], not: { required: ['system_prompt', 'custom_prompt'] } });
  });
});

describe('issue codes come from the schema, not from its messages', () => {
  const issueOf = (schema: z.ZodType, value: unknown) =>
    describeIssue(schema.safeParse(value, { reportInput: true }).error!.issues[0]!, () => JSON.stringify(value));

  it('a new custom check is reported under the code it declares, with its message', () => {
    const reserved = z.string().refine((name) => name !== 'root', { message: 'is a reserved name', params: { code: 'name_conflict' } });
    expect(issueOf(reserved, 'root')).toEqual({ code: 'name_conflict', message: 'is a reserved name' });
    // One without a code of its own is not taken for another check.
    const plain = z.string().refine((name) => name !== 'root', 'is a reserved name');
    expect(issueOf(plain, 'root')).toEqual({ code: 'invalid', message: 'is a reserved name' });
    // A message that happens to mention NUL or a surrogate does not make the check one of those.
    const wording = z.string().refine(() => false, { message: 'mentions NUL and a surrogate', params: { code: 'both_prompts' } });
    expect(issueOf(wording, 'x')).toMatchObject({ code: 'both_prompts' });
  });

  it('a string format is named by its own format, not taken for a GitHub login', () => {
    expect(issueOf(z.url(), 'not a url')).toEqual({ code: 'format', message: 'is not a valid url' });
    expect(issueOf(z.uuid(), 'x')).toEqual({ code: 'format', message: 'is not a valid uuid' });
    expect(issueOf(z.string().regex(/^a+$/), 'b')).toEqual({ code: 'format', message: 'does not match the pattern /^a+$/' });
    expect(issueOf(z.email(), 'x')).toEqual({ code: 'format', message: 'is not a valid e-mail address' });
  });

  it('the member schemas declare the codes their checks report', () => {
    expect(issuesOf('name: A\ngithub_username: rin_dev\n')).toMatchObject([
      {
        field: 'github_username',
        code: 'format',
        message: 'is not a valid GitHub username',
        hint: 'letters, digits and single hyphens, at most 39 characters',
      },
    ]);
    expect(issuesOf('name: A\ncontact_email: nowhere\n')).toMatchObject([{ field: 'contact_email', code: 'format', message: 'is not a valid e-mail address' }]);
  });
});

describe("a Japanese keyboard's slips get a hint, not the parser's message", () => {
  it('a full-width colon after a key', () => {
    expect(issuesOf('name：太郎\n')).toEqual([
      {
        file: 'human_members/x.yml',
        code: 'full_width',
        field: 'name',
        line: 1,
        column: 5,
        message: 'is followed by a full-width colon (：), which YAML does not read as one',
        hint: 'write an ASCII colon and a space: name: 太郎',
      },
    ]);
    expect(issuesOf('name: 太郎\nrole：リーダー\n')).toMatchObject([{ code: 'full_width', field: 'role', line: 2, column: 5 }]);
    expect(formatIssue(issuesOf('name：太郎\nrole: dev\n')[0]!)).toBe(
      'human_members/x.yml:1:5: name: is followed by a full-width colon (：), which YAML does not read as one (write an ASCII colon and a space: name: 太郎)',
    );
  });

  it('indentation with ideographic spaces (U+3000)', () => {
    expect(issuesOf('name: 太郎\nskills:\n\u3000- TypeScript\n')).toEqual([
      {
        file: 'human_members/x.yml',
        code: 'full_width',
        line: 3,
        column: 1,
        message: 'is indented with an ideographic space (U+3000, a full-width space)',
        hint: 'indent with ASCII spaces',
      },
    ]);
    expect(issuesOf('name: 太郎\n\u3000role: dev\n')).toMatchObject([{ code: 'full_width', line: 2, column: 1 }]);
  });

  it('full-width brackets and commas in a list', () => {
    expect(issuesOf('name: 太郎\nskills: ［TypeScript, Go］\n')).toEqual([
      {
        file: 'human_members/x.yml',
        code: 'full_width',
        field: 'skills',
        line: 2,
        column: 9,
        message: 'writes a list with a full-width bracket (［)',
        hint: 'write it with ASCII brackets and commas: skills: [TypeScript, Go]',
      },
    ]);
    expect(issuesOf('name: 太郎\nskills: 「TypeScript、Go」\n')).toMatchObject([
      { code: 'full_width', field: 'skills', line: 2, column: 9, hint: 'write it with ASCII brackets and commas: skills: [TypeScript, Go]' },
    ]);
    expect(issuesOf('name: 太郎\nskills: [TypeScript, Go］\n')).toMatchObject([
      { code: 'full_width', field: 'skills', line: 2, column: 24, message: 'writes a list with a full-width bracket (］)' },
    ]);
    expect(issuesOf('name: 太郎\nskills: ［TypeScript，Go］\n')).toMatchObject([
      { code: 'full_width', hint: 'write it with ASCII brackets and commas: skills: [TypeScript, Go]' },
    ]);
    expect(issuesOf('name: 太郎\nskills: [TypeScript，Go\n')).toMatchObject([
      { code: 'full_width', line: 2, column: 20, message: 'writes a list with a full-width comma (，)' },
    ]);
  });

  it('a full-width comma between the items of a list that YAML reads whole, as one item', () => {
    // `[TypeScript，React]` is valid YAML: one skill, "TypeScript，React". Registered so, the
    // member would silently have the wrong skills.
    expect(issuesOf('name: 太郎\nskills: [TypeScript，React]\n')).toEqual([
      {
        file: 'human_members/x.yml',
        code: 'full_width',
        field: 'skills',
        line: 2,
        column: 20,
        message: 'writes a list with a full-width comma (，)',
        hint: 'write it with ASCII brackets and commas: skills: [TypeScript, React] (quote an item that is one, comma and all: "TypeScript，React")',
      },
    ]);
    expect(issuesOf('name: 太郎\nskills: [Go, TypeScript、React]\n')).toMatchObject([{ code: 'full_width', field: 'skills', line: 2, column: 24 }]);
    const virtual = parseMemberFile('virtual_members/x.yml', 'virtual', Buffer.from('name: 華扇\nllm_model: m\nexpertise_areas: [設計、レビュー]\n'));
    expect(virtual).toMatchObject({ ok: false, issues: [{ code: 'full_width', field: 'expertise_areas' }] });
    // Quoted, an item with a comma of its own is what its author meant; in a block list too.
    expect(parse('name: 太郎\nskills: ["TypeScript，React", Go]\n')).toMatchObject({ ok: true, value: { member: { skills: ['TypeScript，React', 'Go'] } } });
    expect(parse('name: 太郎\nskills:\n  - 設計、レビュー\n')).toMatchObject({ ok: true, value: { member: { skills: ['設計、レビュー'] } } });
  });

  it('looks for the comma slip in unquoted items only: a quoted item and a comment keep other mistakes in view (review)', () => {
    expect(issuesOf('name: 太郎\nskills: ["設計、レビュー", Go]\ncontact_email: nowhere\n')).toMatchObject([{ code: 'format', field: 'contact_email' }]);
    expect(issuesOf('name: 太郎\nskills: [Go, Rust] # 例：A、B\ncontact_email: nowhere\n')).toMatchObject([{ code: 'format', field: 'contact_email' }]);
    expect(issuesOf('name: 太郎\nskills: ["設計、レビュー", a，b]\n')).toEqual([
      {
        file: 'human_members/x.yml',
        code: 'full_width',
        field: 'skills',
        line: 2,
        column: 22,
        message: 'writes a list with a full-width comma (，)',
        hint: 'write it with ASCII brackets and commas: skills: ["設計、レビュー", a, b] (quote an item that is one, comma and all: "a，b")',
      },
    ]);
  });

  it('leaves Japanese text in values alone, and other mistakes to their own messages', () => {
    expect(parse('name: 太郎\nrole: 「リーダー」\nbio: |\n  注意：これは本文です。\n  \u3000字下げした段落。\n').ok).toBe(true);
    expect(issuesOf('name: 太郎\nrole: 「リーダー」\nbio: |\n  Note：text\ncontact_email: nowhere\n')).toMatchObject([
      { code: 'format', field: 'contact_email' },
    ]);
  });
});
