/**
 * `npm run screenshots`: starts `vecr serve` on the sample members of `storage/` (and two more: a
 * person with a Japanese name, an AI member with a long system prompt), writes a conversation to
 * its chat log, signs in with the one-time URL, and writes PNGs of the main pages, in Japanese
 * and in English, to docs/screenshots/ (the README shows them): on a laptop's screen, and the team
 * list on a phone's. A page wider than its screen is an error. Rerun it when pages change.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { launchBrowser } from './browser.js';
import { startServe } from './support.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = path.join(root, 'docs/screenshots');
/** A laptop's screen. */
const viewport = { width: 1280, height: 800 };
/** A phone's screen (CSS pixels), as an iPhone 14's. */
const phone = { width: 390, height: 844 };
const locales = { ja: 'ja-JP', en: 'en-US' } as const;
/** The chat session the screenshots show. */
const conversation = 'discord:1180000000000000001';

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-screenshots-'));
await fs.cp(path.join(root, 'storage'), path.join(work, 'storage'), { recursive: true });
await fs.writeFile(
  path.join(work, 'storage/human_members/yamada.yml'),
  'name: 山田太郎\nrole: デザイナー\nskills: [Figma, UI デザイン, アクセシビリティ]\nbio: |\n  画面とその言葉を作ります。\n',
);
// A file with a mistake: the sync page lists it with its problems.
await fs.writeFile(path.join(work, 'storage/virtual_members/draft.yml'), 'name: 下書き\nrole: [レビュー担当]\n');
await fs.writeFile(
  path.join(work, 'storage/virtual_members/tsubaki.yml'),
  `name: 椿
role: ドキュメント担当
llm_model: claude-sonnet-4-5
system_prompt: |
  あなたは VECR Garage のドキュメント担当「椿」です。チームのメンバー（人間と AI）が書いた変更を読み、利用者に向けた説明を日本語と英語で書きます。

  書くときの決まり:
  - 一文を短く。専門用語には最初に一度だけ説明を添える。
  - 手順は番号付きの箇条書きにし、各手順でユーザーが目にするもの（画面、メッセージ）を書く。
  - 分からないことは推測せず、担当者に質問する。

  You are Tsubaki, the documentation writer of VECR Garage. Read every change the team makes and explain it to the people who use it, in Japanese and in English. A link you cite is written out in full, e.g. https://example.com/docs/member-registry/web-ui/sign-in-and-sessions-and-the-one-time-url.
personality_traits: [丁寧, 簡潔, curious]
expertise_areas: [technical writing, 翻訳, Markdown]
`,
);
const serve = await startServe(work, { VECR_UI_USERS: '', ADMIN_USERNAME: '', ADMIN_PASSWORD: '', VECR_SESSION_SECRET: '', HOST: '127.0.0.1' });
const browser = await launchBrowser();
const contexts: BrowserContext[] = [];
const written: string[] = [];
const shoot = async (context: BrowserContext, url: string, name: string) => {
  const page = await context.newPage();
  const answer = await page.goto(url);
  if (!answer?.ok()) throw new Error(`${url}: ${answer?.status()}`);
  // Nothing wider than the screen: a page that scrolls sideways is a layout to fix.
  const [scrollWidth, screenWidth] = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as [number, number];
  if (scrollWidth > screenWidth) throw new Error(`${name}: the page is ${scrollWidth} px wide on a screen of ${screenWidth} px`);
  const file = path.join(out, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  written.push(path.relative(root, file));
  await page.close();
};
try {
  await fs.mkdir(out, { recursive: true });
  for (const [language, locale] of Object.entries(locales)) {
    const context = await browser.newContext({ locale, viewport });
    contexts.push(context);
    await shoot(context, `${serve.url}/signin`, `signin-${language}`);
  }
  // One one-time URL per start: the signed-in pages share one session, the language chosen by
  // the `lang` cookie the switch link sets.
  const onceUrl = /open (http:\/\/\S+\/signin\/once\?token=\S+) to sign in/.exec(serve.banner)?.[1];
  if (!onceUrl) throw new Error(`no one-time sign-in URL in the banner:\n${serve.banner}`);
  const signedIn = await browser.newContext({ locale: locales.ja, viewport });
  contexts.push(signedIn);
  await (await signedIn.newPage()).goto(onceUrl);
  await writeConversation(serve.url);
  const onPhone = await browser.newContext({ locale: locales.ja, viewport: phone, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  contexts.push(onPhone);
  await onPhone.addCookies(await signedIn.cookies());
  for (const language of Object.keys(locales)) {
    for (const context of [signedIn, onPhone]) await context.addCookies([{ name: 'lang', value: language, url: serve.url }]);
    await shoot(signedIn, `${serve.url}/`, `home-${language}`);
    await shoot(onPhone, `${serve.url}/`, `home-phone-${language}`);
    await shoot(signedIn, `${serve.url}/members/virtual/${encodeURIComponent('椿')}`, `member-ai-${language}`);
    await shoot(signedIn, `${serve.url}/members/virtual/${encodeURIComponent('椿')}/edit`, `edit-${language}`);
    await shoot(signedIn, `${serve.url}/sync`, `sync-${language}`);
    await shoot(signedIn, `${serve.url}/chat`, `chat-${language}`);
    await shoot(signedIn, `${serve.url}/chat/sessions/${encodeURIComponent(conversation)}`, `chat-transcript-${language}`);
  }
  console.log(`wrote ${written.join(', ')}`);
} finally {
  for (const context of contexts) await context.close();
  await browser.close();
  await serve.stop();
  await fs.rm(work, { recursive: true, force: true });
}

/** A conversation in the chat log, written through the API as a bot writes it (open on loopback without tokens). */
async function writeConversation(serviceUrl: string) {
  const at = Date.UTC(2026, 11, 1, 10, 0);
  const messages = [
    {
      timestamp: at,
      speaker_name: '山田太郎',
      speaker_type: 'human',
      role: 'user',
      content: '椿さん、サインインの説明を README に書いてもらえますか？\n一回限りの URL のことも入れてください。',
    },
    {
      timestamp: at + 40_000,
      speaker_name: '椿',
      speaker_type: 'virtual',
      role: 'assistant',
      content: 'はい。次の三つに分けて書きます。\n1. 何も設定しないとき（一回限りの URL）\n2. アカウントを設定するとき（vecr password）\n3. サインアウト',
      llm_model: 'claude-sonnet-4-5',
      input_tokens: 1834,
      output_tokens: 96,
    },
    { timestamp: at + 95_000, speaker_name: 'Rin', speaker_type: 'human', role: 'user', content: 'Please add the English version too.' },
    {
      timestamp: at + 120_000,
      speaker_name: '椿',
      speaker_type: 'virtual',
      role: 'assistant',
      content: 'Of course: both languages, side by side, in the same order.',
      llm_model: 'claude-sonnet-4-5',
      input_tokens: 1951,
      output_tokens: 17,
    },
  ];
  const body = JSON.stringify({ messages: messages.map((message) => ({ ...message, channel_id: conversation.split(':')[1] })) });
  const response = await fetch(`${serviceUrl}/api/chat/sessions/${encodeURIComponent(conversation)}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  if (response.status !== 201) throw new Error(`writing the conversation: ${response.status} ${await response.text()}`);
}
