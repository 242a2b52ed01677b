import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { readFlatMapping } from '../../src/members/flatYaml.js';
import { defaultLimits, parseCarefully, parseMemberFile } from '../../src/members/parse.js';

/** What the careful reader (`yaml`, core schema) makes of a text: its value, or undefined when it finds anything wrong. */
function carefully(text: string): unknown {
  const doc = parseDocument(text, { schema: 'core', uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0 || doc.warnings.length > 0) return undefined;
  return doc.toJS();
}

/** The flat reader answers only what the careful reader answers too. */
function expectAgreement(text: string) {
  const flat = readFlatMapping(text);
  if (flat !== undefined) expect({ text, value: flat }).toEqual({ text, value: carefully(text) });
  return flat;
}

describe('readFlatMapping', () => {
  it('reads the shapes member files are written in', () => {
    const shapes: Array<[string, unknown]> = [
      ['name: Rin\nrole: Backend engineer\n', { name: 'Rin', role: 'Backend engineer' }],
      ["skills: [TypeScript, \"Postgre,SQL\", 'it''s']\n", { skills: ['TypeScript', 'Postgre,SQL', "it's"] }],
      ['skills:\n  - TypeScript\n  -   MinIO # a comment\n', { skills: ['TypeScript', 'MinIO'] }],
      ['skills:\n- a\n- "b: c"\nname: x\n', { skills: ['a', 'b: c'], name: 'x' }],
      ['bio: |\n  Line one.\n\n  Line three: with # and "quotes".\n\n\nname: x\n', { bio: 'Line one.\n\nLine three: with # and "quotes".\n', name: 'x' }],
      ['bio: |-\n    indented\n      more\n', { bio: 'indented\n  more' }],
      ['bio: |\n  no final line break', { bio: 'no final line break\n' }],
      ['# yaml-language-server: $schema=x.json\n---\nname: 華扇 # comment\nrole: "x: y"\n', { name: '華扇', role: 'x: y' }],
      ['name: Rin\r\nskills: [a, b]\r\nbio: |\r\n  text\r\n', { name: 'Rin', skills: ['a', 'b'], bio: 'text\n' }],
      ['name: http://example.com/a#b\nrole: yes\nskills: []\n', { name: 'http://example.com/a#b', role: 'yes', skills: [] }],
      ['name: "  spaced  "\nrole: a\u00a0\n', { name: '  spaced  ', role: 'a\u00a0' }],
      // A line of spaces deeper than the text's indentation, last in the block, is text (yaml 2).
      ['bio: |\n  a\n    \nname: x\n', { bio: 'a\n  \n', name: 'x' }],
      ['true: x\n', { true: 'x' }],
    ];
    for (const [text, value] of shapes) {
      expect(readFlatMapping(text), text).toEqual(value);
      expect(carefully(text), text).toEqual(value);
    }
  });

  it('leaves everything else to the careful reader', () => {
    const others = [
      'name: 123\n',
      'name: -1\n',
      'name: .5\n',
      'name: ~\n',
      'name: null\n',
      'name: True\n',
      'name:\n',
      'name: 0x1F\n',
      'name: &a x\nrole: *a\n',
      'name: !!str x\n',
      'name: "esc\\n"\n',
      'name: >\n  folded\n',
      'name: |+\n  keep\n',
      'name: |2\n  x\n',
      'name: a\n  continued\n',
      'name: a\n  # indented comment\n',
      'name: a\nname: b\n',
      'name: {a: b}\n',
      'skills: [a, [b]]\n',
      'skills: [a,]\n',
      'skills: [a, b\n',
      'skills:\n  - a\n  - [b]\n',
      'skills:\n  - a\n    - b\n',
      'name: a: b\n',
      'name: a #\tb\n',
      'name:\tx\n',
      'Name: x\n',
      '"name": x\n',
      '? name\n: x\n',
      '--- name: x\n',
      'name: x\n---\nrole: y\n',
      'name: x\n...\n',
      '%YAML 1.2\n---\nname: x\n',
      'name: x\rrole: y\n',
      'name: a\u2028b\n',
      'name: a\u0085b\n',
      '',
      '# only a comment\n',
      '- a\n',
      'bio: |\n \n  x\n',
      'bio: |\n  x\n y\n',
      'bio: |#c\n  x\n',
      'name: "a" b\n',
      'name: "a"#c\n',
      "name: 'a\n",
      'null: x\n',
      'null:\n- a\n',
      `${'k'.repeat(1025)}: x\n`,
    ];
    for (const text of others) expect(expectAgreement(text), JSON.stringify(text)).toBeUndefined();
  });

  it('agrees with the careful reader on 20,000 generated files', () => {
    const random = mulberry32(20261128);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const words = [
      'Rin',
      'a b',
      'x: y',
      'x:y',
      'a #b',
      'a#b',
      '#a',
      '-a',
      '- a',
      '1',
      '1.5',
      '.5',
      '+1',
      '0o7',
      'yes',
      'no',
      'null',
      'Null',
      '~',
      'true',
      'TRUE',
      '華扇',
      '🙂',
      'a\u00a0',
      ' a',
      'a ',
      "it's",
      'say "hi"',
      'a\\b',
      '[a]',
      '{a}',
      'a,b',
      'a]',
      '&a',
      '*a',
      '!a',
      '|',
      '>',
      '%a',
      '@a',
      '`a',
      '?a',
      '? a',
      ':a',
      'a:',
      'a\tb',
      'a\rb',
      '.inf',
      '-.inf',
      '.nan',
      '0x1f',
      '1e3',
      '---',
      '...',
      '',
    ];
    const scalar = () => {
      const word = pick(words);
      switch (pick(['plain', 'plain', 'single', 'double'])) {
        case 'single':
          return `'${word.replaceAll("'", random() < 0.8 ? "''" : "'")}'`;
        case 'double':
          return `"${random() < 0.8 ? word.replaceAll('"', '\\"') : word}"`;
        default:
          return word;
      }
    };
    const comment = () => (random() < 0.15 ? pick([' # note', '# note', ' #', '  #: x']) : '');
    const space = () => pick(['', ' ', '  ', ' ', ' ']);
    const value = () => {
      switch (pick(['scalar', 'scalar', 'flow', 'block list', 'text'])) {
        case 'scalar':
          return ` ${scalar()}${space()}${comment()}\n`;
        case 'flow':
          return ` [${Array.from({ length: Math.floor(random() * 4) }, () => space() + scalar() + space()).join(pick([',', ',', ', ', ',,']))}]${comment()}\n`;
        case 'block list': {
          const indent = pick(['', '  ', '    ', ' ']);
          return `${comment()}\n${Array.from({ length: 1 + Math.floor(random() * 3) }, () => `${random() < 0.95 ? indent : `${indent} `}-${pick([' ', '  ', ''])}${scalar()}${comment()}\n`).join('')}`;
        }
        default: {
          const indent = pick(['  ', '    ', ' ']);
          const lines = Array.from({ length: 1 + Math.floor(random() * 4) }, () =>
            pick(['', `${indent}${pick(words)}`, `${indent}  more`, `${indent}# not a comment`, ' ', indent, `${indent}   `]),
          );
          return ` ${pick(['|', '|-', '|+', '>', '|2', '| # c', '|#c'])}\n${lines.join('\n')}\n`;
        }
      }
    };
    const keys = ['name', 'role', 'skills', 'bio', 'llm_model', 'system_prompt', 'Name', 'a-b', 'x', 'null', 'true', 'k'.repeat(1025)];
    let read = 0;
    for (let i = 0; i < 20_000; i++) {
      let text = random() < 0.1 ? '---\n' : '';
      for (let entries = 1 + Math.floor(random() * 4); entries > 0; entries--) {
        if (random() < 0.1) text += pick(['\n', '# comment\n', '  # indented\n']);
        text += `${pick(keys)}:${value()}`;
      }
      if (random() < 0.1) text = text.replaceAll('\n', '\r\n');
      if (random() < 0.1) text = text.slice(0, -1);
      if (expectAgreement(text) !== undefined) read++;
    }
    // Most generated files are outside the shape; enough are inside it for this to say something.
    expect(read).toBeGreaterThan(1_500);
  });

  it('gives parseMemberFile the verdicts of the careful reader, under tighter limits too', () => {
    for (const maxDepth of [0, 1, 2]) {
      const limits = { ...defaultLimits, maxDepth };
      for (const text of ['name: x\n', 'name: x\nskills: [a]\n', 'name: x\nskills:\n  - a\n']) {
        const careful = parseCarefully('human_members/x.yml', 'human', text, limits);
        expect({ maxDepth, text, ok: parseMemberFile('human_members/x.yml', 'human', Buffer.from(text), limits).ok }).toEqual({
          maxDepth,
          text,
          ok: careful.ok,
        });
      }
    }
  });

  it('gives parseMemberFile the verdicts of the careful reader', () => {
    const random = mulberry32(7);
    const fields = [
      'name: Rin',
      'name: ""',
      'name: 1',
      'role: x',
      'role: ~',
      'skills: [a, b]',
      'skills: []',
      'skills:\n  - a',
      'bio: |\n  text',
      'contact_email: r@example.com',
      'contact_email: nope',
      'github_username: rin-dev',
      'github_username: -x',
      'llm_model: m',
      'custom_prompt: p',
      'system_prompt: |-\n  p',
      'personality_traits: [calm]',
      'colour: red',
      'name: Rin',
    ];
    for (let i = 0; i < 3_000; i++) {
      const text = `${Array.from({ length: 1 + Math.floor(random() * 5) }, () => fields[Math.floor(random() * fields.length)]).join('\n')}\n`;
      for (const kind of ['human', 'virtual'] as const) {
        const file = `${kind}_members/x.yml`;
        const careful = parseCarefully(file, kind, text, defaultLimits);
        const either = parseMemberFile(file, kind, Buffer.from(text));
        expect({ text, ok: either.ok }).toEqual({ text, ok: careful.ok });
        if (either.ok && careful.ok) expect(either.value).toEqual(careful.value);
      }
    }
  });
});

/** A small seeded generator: the same files every run. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
