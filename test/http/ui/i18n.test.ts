import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { languageOf } from '../../../src/http/ui/i18n.js';

/** The language a request with these headers is answered in. */
async function languageFor(headers: Record<string, string>): Promise<string> {
  const server = Fastify();
  server.get('/', async (request) => languageOf(request));
  const answer = await server.inject({ url: '/', headers });
  await server.close();
  return answer.body;
}

describe('the language of a page', () => {
  it('follows the lang cookie, else the preferred of ja and en in Accept-Language, else Japanese', async () => {
    expect(await languageFor({ 'accept-language': 'ja-JP,ja;q=0.9,en;q=0.8' })).toBe('ja');
    expect(await languageFor({ 'accept-language': 'en-GB,en;q=0.9,ja;q=0.5' })).toBe('en');
    expect(await languageFor({ 'accept-language': 'fr;q=1, en;q=0.3, ja;q=0.7' })).toBe('ja');
    expect(await languageFor({ 'accept-language': 'de, en;q=0' })).toBe('ja');
    expect(await languageFor({})).toBe('ja');
    expect(await languageFor({ 'accept-language': 'ja', cookie: 'theme=dark; lang=en' })).toBe('en');
    expect(await languageFor({ 'accept-language': 'en', cookie: 'lang=xx' })).toBe('en');
  });
});
