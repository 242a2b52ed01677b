/**
 * npm run bench:ui [-- --members N --runs R]
 *
 * The web UI with N members (default 20,000: half humans, half AI members, Japanese names),
 * written as files and registered by `vecr serve`'s first full sync, on the configured engine
 * (DATABASE_URL → a scratch database on that server; else the embedded PGlite, as `npm start`).
 * Measured in headless Chromium, R times each (default 5), medians:
 *   - the team list: navigation start → the list painted (the page is HTML made by the server,
 *     no script: its first contentful paint holds the list), and the bytes of its transfer;
 *   - a search: type a part of a name, submit, → the results painted;
 * next to, in the same run, the same pages fetched without a browser and the JSON API's own time
 * for the same data (both kinds, 50 a page, as the list shows them).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { launchBrowser } from './browser.js';
import { helpOnRequest, option, request, scratchServerDatabase, startServe } from './support.js';

helpOnRequest(`Usage: npm run bench:ui [-- --members N --runs R]

The web UI with N members (default 20000) in headless Chromium: time to the first rendered member
list, time to a search result, the first page's transfer size, next to the same pages without a
browser and the JSON API for the same data (medians of R runs, default 5). Engine: DATABASE_URL
(a scratch database on that server), else the embedded PGlite.`);
const count = option('members', 20_000);
const runs = option('runs', 5);
/** What the search types: part of a given name, as a person looks for 花子 without her family name. */
const query = '花子';
const pageSize = 50;

const families = [
  '山田',
  '田中',
  '佐藤',
  '鈴木',
  '高橋',
  '伊藤',
  '渡辺',
  '中村',
  '小林',
  '加藤',
  '吉田',
  '山本',
  '松本',
  '井上',
  '木村',
  '林',
  '清水',
  '山口',
  '森',
  '池田',
];
const givens = [
  '太郎',
  '花子',
  '一郎',
  '美香',
  '健',
  '陽子',
  '翔太',
  'さくら',
  '大輔',
  '愛',
  '直樹',
  '由美',
  '拓也',
  '恵',
  '誠',
  '彩',
  '浩二',
  '舞',
  '亮',
  '優子',
  '蓮',
  '葵',
  '湊',
  '結衣',
  '悠真',
];
const nameOf = (i: number) => `${families[i % families.length]}${givens[Math.floor(i / families.length) % givens.length]} ${String(i).padStart(5, '0')}`;
const humanFile = (i: number) => `name: ${nameOf(i)}\nrole: Engineer ${i % 7}\nskills: [TypeScript, skill-${i % 13}]\nbio: Member number ${i}.\n`;
const virtualFile = (i: number) =>
  `name: ${nameOf(i)}\nrole: Reviewer\nllm_model: claude-sonnet-4-5\nsystem_prompt: |\n  You are AI member ${i}.\n  Be kind and precise.\nexpertise_areas: [code review, area-${i % 11}]\n`;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const range = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;

/** The first contentful paint of a page (ms from navigation start), once the browser has recorded it. */
const firstPaint = (page: Page) =>
  page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        const observer = new PerformanceObserver((entries) => {
          const paint = entries.getEntriesByName('first-contentful-paint')[0];
          if (paint) resolve(paint.startTime);
        });
        // The browser's entry type (Node's typings know only Node's).
        observer.observe({ type: 'paint' as 'mark', buffered: true });
      }),
  );

/** What the browser recorded of the page it shows: its first contentful paint and its transfer (from navigation start). */
async function paintedPage(page: Page) {
  await page.locator('tbody tr').first().waitFor();
  const painted = await firstPaint(page);
  return page.evaluate((painted) => {
    // The browser's entry types (Node's typings know only Node's).
    const [navigation] = (performance.getEntriesByType as (type: string) => unknown[])('navigation') as {
      transferSize: number;
      encodedBodySize: number;
      responseEnd: number;
    }[];
    return { painted, responseEnd: navigation!.responseEnd, transfer: navigation!.transferSize, body: navigation!.encodedBodySize };
  }, painted);
}

async function timed(task: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await task();
  return performance.now() - started;
}

async function main() {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-bench-ui-'));
  const server = process.env.DATABASE_URL ? await scratchServerDatabase(process.env.DATABASE_URL, 'ui') : undefined;
  const written = performance.now();
  for (const kind of ['human_members', 'virtual_members']) await fs.mkdir(path.join(work, 'storage', kind), { recursive: true });
  for (let i = 0; i < count; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, (_, k) => {
        const n = i + k;
        return n % 2 === 0
          ? fs.writeFile(path.join(work, 'storage/human_members', `h${n}.yml`), humanFile(n))
          : fs.writeFile(path.join(work, 'storage/virtual_members', `v${n}.yml`), virtualFile(n));
      }),
    );
  }
  const filesMs = performance.now() - written;
  const registering = performance.now();
  const serve = await startServe(work, {
    VECR_UI_USERS: '',
    ADMIN_USERNAME: '',
    ADMIN_PASSWORD: '',
    VECR_SESSION_SECRET: '',
    HOST: '127.0.0.1',
    ...(server ? { DATABASE_URL: server.url } : {}),
  });
  const registeredMs = performance.now() - registering;
  const browser = await launchBrowser();
  try {
    const engine = server ? 'PostgreSQL server' : 'embedded PGlite';
    console.log(
      `bench:ui — ${count} members (${filesMs.toFixed(0)} ms to write the files, ${(registeredMs / 1000).toFixed(1)} s to start and sync), ${engine}, ${runs} runs, Node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Chromium ${browser.version()}`,
    );
    const onceUrl = /open (http:\/\/\S+\/signin\/once\?token=\S+) to sign in/.exec(serve.banner)?.[1];
    if (!onceUrl) throw new Error(`no one-time sign-in URL in the banner:\n${serve.banner}`);
    const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(60_000);
    await (await context.newPage()).goto(onceUrl);
    const cookie = (await context.cookies()).map(({ name, value }) => `${name}=${value}`).join('; ');
    const searchUrl = `${serve.url}/?q=${encodeURIComponent(query)}`;
    /** A page as the server makes it, fetched with the session cookie and no browser. */
    const html = (url: string) =>
      new Promise<string>((resolve, reject) => {
        http
          .get(url, { headers: { cookie, 'accept-language': 'ja' } }, (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () =>
              response.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${url}: ${response.statusCode}`)),
            );
          })
          .on('error', reject);
      });
    const api = async (search: string) => {
      // Both kinds, as the list shows both: the API lists one kind a call.
      for (const kind of ['human', 'virtual']) {
        const answer = await request(`${serve.url}/api/members/${kind}?limit=${pageSize}${search}`);
        if (answer.status !== 200) throw new Error(`GET /api/members/${kind}: ${answer.status} ${answer.body}`);
      }
    };
    // One of each first: compiled code and warm caches, as a team's service runs.
    await api('');
    await html(`${serve.url}/`);

    const list = { painted: [] as number[], responseEnd: [] as number[], transfer: [] as number[], body: [] as number[] };
    const search = { painted: [] as number[], wall: [] as number[], rows: 0 };
    /** The sign-in page: a heading and two fields, the browser's own floor for a page of this site. */
    const floor: number[] = [];
    const noBrowser = { list: [] as number[], search: [] as number[], apiList: [] as number[], apiSearch: [] as number[] };
    for (let run = 0; run < runs; run++) {
      const page = await context.newPage();
      await page.goto(`${serve.url}/`);
      const first = await paintedPage(page);
      for (const key of Object.keys(list) as (keyof typeof list)[]) list[key].push(first[key]);

      await page.getByLabel('名前に含む文字').fill(query);
      const submitted = performance.now();
      await page.getByLabel('名前に含む文字').press('Enter');
      await page.waitForURL((url) => url.searchParams.get('q') === query);
      const found = await paintedPage(page);
      search.wall.push(performance.now() - submitted);
      search.painted.push(found.painted);
      search.rows = await page.locator('tbody tr').count();
      await page.close();

      const signinPage = await browser.newPage();
      await signinPage.goto(`${serve.url}/signin`);
      await signinPage.locator('form').waitFor();
      floor.push(await firstPaint(signinPage));
      await signinPage.close();

      noBrowser.list.push(await timed(() => html(`${serve.url}/`)));
      noBrowser.search.push(await timed(() => html(searchUrl)));
      noBrowser.apiList.push(await timed(() => api('')));
      noBrowser.apiSearch.push(await timed(() => api(`&q=${encodeURIComponent(query)}`)));
    }
    const ms = (values: number[]) => `${median(values).toFixed(0)} ms (${range(values)})`;
    const rows: [string, string][] = [
      ['team list: navigation start → list painted (Chromium)', ms(list.painted)],
      ['team list: navigation start → HTML received (Chromium)', ms(list.responseEnd)],
      ['the sign-in page (no data): navigation start → painted (Chromium)', ms(floor)],
      ['team list: the page over HTTP, no browser', ms(noBrowser.list)],
      [`JSON API: first ${pageSize} humans + first ${pageSize} AI members`, ms(noBrowser.apiList)],
      [`search "${query}": submit → results painted (Chromium, navigation start)`, ms(search.painted)],
      [`search "${query}": submit → results visible (measured outside the page)`, ms(search.wall)],
      [`search "${query}": the page over HTTP, no browser`, ms(noBrowser.search)],
      [`JSON API: q=${query}, ${pageSize} of each kind`, ms(noBrowser.apiSearch)],
      ['team list: bytes over the wire (headers + body; not compressed)', `${median(list.transfer)} B (body ${median(list.body)} B)`],
    ];
    console.log(`\n| ${count} members, medians of ${runs} runs (min–max) | |\n|---|---|`);
    for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
    console.log(`\n(the search shows ${search.rows} rows on its first page)`);
  } finally {
    await browser.close();
    await serve.stop();
    await server?.drop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
