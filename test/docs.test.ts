import fs from 'node:fs';
import path from 'node:path';
import { type Node, Parser } from 'commonmark';
import { describe, expect, it } from 'vitest';

/**
 * The documents a newcomer reads: every link stays inside the repository and leads somewhere;
 * the English and Japanese READMEs name the same commands, variables and endpoints; .env.example
 * lists exactly the variables the code reads.
 */
const root = path.resolve(import.meta.dirname, '..');

function markdownFiles(): string[] {
  const docs = fs.readdirSync(path.join(root, 'docs'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.md'));
  return ['README.md', 'README.ja.md', ...docs.map((file) => path.join('docs', file))];
}

function read(file: string): string {
  return fs.readFileSync(path.join(root, file), 'utf8');
}

function* nodes(document: Node): Generator<Node> {
  const walker = document.walker();
  for (let event = walker.next(); event; event = walker.next()) if (event.entering) yield event.node;
}

function plainText(node: Node): string {
  let text = '';
  for (const child of nodes(node)) if (child.type === 'text' || child.type === 'code') text += child.literal ?? '';
  return text;
}

/** The anchors GitHub gives a document's headings (github-slugger's rule). */
function anchors(document: Node): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const node of nodes(document)) {
    if (node.type !== 'heading') continue;
    const slug = plainText(node)
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

/** Hosts that only ever stand for "your own machine" or an example: fine in a command to copy. */
const exampleHosts = /^(localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]|host\.docker\.internal|(.+\.)?example\.(com|org|net))$/;

/** What is wrong with the links of one document (`file`, its path from the root), one line per problem. */
function linkProblems(file: string, markdown = read(file)): string[] {
  const document = new Parser().parse(markdown);
  const problems: string[] = [];
  for (const node of nodes(document)) {
    if (node.type === 'link' || node.type === 'image') {
      const destination = node.destination ?? '';
      if (/^[a-z][a-z\d+.-]*:/i.test(destination)) {
        problems.push(`${file}: ${destination} leads outside the repository`);
        continue;
      }
      const [target = '', fragment] = destination.split('#');
      const targetFile = target === '' ? file : path.join(path.dirname(file), decodeURIComponent(target));
      if (target !== '' && !fs.existsSync(path.join(root, targetFile))) {
        problems.push(`${file}: ${destination} — ${targetFile} does not exist`);
        continue;
      }
      if (fragment === undefined || !targetFile.endsWith('.md')) continue;
      const targetDocument = targetFile === file ? document : new Parser().parse(read(targetFile));
      if (!anchors(targetDocument).has(decodeURIComponent(fragment))) {
        problems.push(`${file}: ${destination} — no heading of ${targetFile} has the anchor #${fragment}`);
      }
    } else if (node.type === 'text' && /https?:\/\//.test(node.literal ?? '')) {
      problems.push(`${file}: "${node.literal}" names a web address outside code`);
    } else if (node.type === 'code' || node.type === 'code_block') {
      for (const [, host = ''] of (node.literal ?? '').matchAll(/https?:\/\/([^/:\s'"`]+)/g)) {
        if (!exampleHosts.test(host)) problems.push(`${file}: http(s)://${host} in code is not an example host`);
      }
    }
  }
  return problems;
}

/** The commands, environment variables and endpoints a README names, each a sorted list. */
function namedThings(markdown: string): { commands: string[]; variables: string[]; endpoints: string[] } {
  const document = new Parser().parse(markdown);
  const code = [...nodes(document)]
    .filter((node) => node.type === 'code' || node.type === 'code_block')
    .map((node) => node.literal ?? '')
    .join('\n');
  const commands = new Set<string>();
  const groups = new Set(['members', 'db', 'chatlog']);
  for (const [, words = ''] of code.matchAll(/\bvecr((?:[ \t]+[a-z][a-z-]*)+)/g)) {
    const [first, second] = words.trim().split(/\s+/);
    commands.add(groups.has(first!) && second ? `vecr ${first} ${second}` : `vecr ${first}`);
  }
  for (const [, flag] of code.matchAll(/\bvecr[ \t]+(--version|-V|--help)\b/g)) commands.add(`vecr ${flag}`);
  for (const [command = ''] of code.matchAll(/\bnpm[ \t]+(?:run[ \t]+[\w:-]+|[a-z]+)/g)) commands.add(command.replace(/[ \t]+/g, ' '));
  // Environment variables: UPPER_CASE with an underscore, any UPPER_CASE name given a value (PGPASSFILE=),
  // and the two short ones the service reads.
  const variables = new Set(markdown.match(/\b[A-Z][A-Z\d]*(?:_[A-Z\d]+)+\b|\b[A-Z][A-Z\d]{2,}(?==)|\b(?:PORT|HOST)\b/g) ?? []);
  const endpoints = new Set(markdown.match(/\/(?:api|webhook)\/[\w/:.-]*\w/g) ?? []);
  const sorted = (set: Set<string>) => [...set].sort();
  return { commands: sorted(commands), variables: sorted(variables), endpoints: sorted(endpoints) };
}

/** What one text names and the other does not, both ways; empty when they agree. */
function drift(english: string, japanese: string): string[] {
  const en = namedThings(english);
  const ja = namedThings(japanese);
  const problems: string[] = [];
  for (const kind of ['commands', 'variables', 'endpoints'] as const) {
    for (const thing of en[kind]) if (!ja[kind].includes(thing)) problems.push(`README.md names ${thing} (${kind}); README.ja.md does not`);
    for (const thing of ja[kind]) if (!en[kind].includes(thing)) problems.push(`README.ja.md names ${thing} (${kind}); README.md does not`);
  }
  return problems;
}

/** The variable names the code reads from the environment (src/ and bin/). */
function variablesRead(): Set<string> {
  const names = new Set<string>();
  for (const folder of ['src', 'bin']) {
    for (const file of fs.readdirSync(path.join(root, folder), { recursive: true, encoding: 'utf8' })) {
      if (!/\.(ts|js)$/.test(file)) continue;
      const source = fs.readFileSync(path.join(root, folder, file), 'utf8');
      for (const [, name = ''] of source.matchAll(/\benv(?:\.|\[\s*['"`])([A-Z][A-Z\d_]*)/g)) names.add(name);
    }
  }
  return names;
}

function variablesOfEnvExample(): Set<string> {
  return new Set([...read('.env.example').matchAll(/^#?[ \t]*([A-Z][A-Z\d_]*)=/gm)].map(([, name]) => name!));
}

describe('documentation', () => {
  it('links only to files of the repository that exist, and to headings that exist', () => {
    const files = markdownFiles();
    expect(files).toContain(path.join('docs', 'architecture.md'));
    expect(files.flatMap((file) => linkProblems(file))).toEqual([]);
  });

  it('finds a link that leads outside, a missing file, a missing heading and a web address in prose', () => {
    const file = path.join('docs', 'example.md');
    const markdown =
      '# Here\n\n[a](https://example.com/x) [b](missing.md) [c](#nowhere) [d](#here) [e](spec/README.md#member-files-product-decision)\n\nsee https://example.org\n\n```\ncurl https://registry.example.com/ http://localhost:3000/\ncurl https://pglite.dev\n```\n';
    expect(linkProblems(file, markdown)).toEqual([
      `${file}: https://example.com/x leads outside the repository`,
      `${file}: missing.md — docs/missing.md does not exist`,
      `${file}: #nowhere — no heading of ${file} has the anchor #nowhere`,
      `${file}: "see https://example.org" names a web address outside code`,
      `${file}: http(s)://pglite.dev in code is not an example host`,
    ]);
  });

  it('keeps README.md and README.ja.md naming the same commands, environment variables and endpoints', () => {
    const english = read('README.md');
    const japanese = read('README.ja.md');
    const named = namedThings(english);
    expect(named.commands).toEqual(expect.arrayContaining(['npm install', 'npm start', 'npm test', 'vecr serve', 'vecr sync', 'vecr members show']));
    expect(named.variables).toEqual(expect.arrayContaining(['DATABASE_URL', 'PORT', 'TEST_DATABASE_URL']));
    expect(named.endpoints).toEqual(expect.arrayContaining(['/api/chat/sessions', '/webhook/storage']));
    expect(drift(english, japanese)).toEqual([]);
  });

  it('tells which README names a command, a variable or an endpoint the other does not', () => {
    const english = 'Run `npx vecr members list` and `npm run bench:cli`; set `LOG_LEVEL` and PORT; call `/api/sync`.';
    const japanese = '`vecr members count` を実行し、`VECR_DEBUG` を設定します。`/api/sync/status` も。';
    expect(drift(english, japanese)).toEqual([
      'README.md names npm run bench:cli (commands); README.ja.md does not',
      'README.md names vecr members list (commands); README.ja.md does not',
      'README.ja.md names vecr members count (commands); README.md does not',
      'README.md names LOG_LEVEL (variables); README.ja.md does not',
      'README.md names PORT (variables); README.ja.md does not',
      'README.ja.md names VECR_DEBUG (variables); README.md does not',
      'README.md names /api/sync (endpoints); README.ja.md does not',
      'README.ja.md names /api/sync/status (endpoints); README.md does not',
    ]);
  });

  it('lists in .env.example every variable the code reads, and no other', () => {
    const readByCode = variablesRead();
    const listed = variablesOfEnvExample();
    expect(readByCode).toContain('DATABASE_URL');
    expect([...readByCode].filter((name) => !listed.has(name)).sort(), 'read by src/ or bin/ but missing from .env.example').toEqual([]);
    expect([...listed].filter((name) => !readByCode.has(name)).sort(), 'in .env.example but read nowhere in src/ or bin/').toEqual([]);
  });
});
