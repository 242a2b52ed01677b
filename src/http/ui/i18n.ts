import type { FastifyRequest } from 'fastify';
import { cookiesOf } from './session.js';

export const languages = ['ja', 'en'] as const;
export type Language = (typeof languages)[number];

/** Every string of the UI, in each language: a key missing in one is a type error. */
const en = {
  'app.title': 'VECR Garage members',
  'lang.switch': '日本語',
  'signin.title': 'Sign in',
  'signin.user': 'User name',
  'signin.password': 'Password',
  'signin.submit': 'Sign in',
  'signin.failed': 'The user name or password is wrong.',
  'signin.limited': 'Too many failed sign-ins from this address. Try again in {seconds} s.',
  'signin.none': 'No accounts are configured: set VECR_UI_USERS (see `vecr password`), or run the service on 127.0.0.1 and open the one-time sign-in URL it prints.',
  'signin.onceSpent': 'This sign-in link has been used or is not valid. Restart the service for a new one, or sign in with an account.',
  'home.signedInAs': 'Signed in as {name} ({role})',
  'home.next': 'The member list comes here.',
  'role.admin': 'administrator',
  'role.viewer': 'viewer (read only)',
  'signout.submit': 'Sign out',
} as const;

type Key = keyof typeof en;

const ja: Record<Key, string> = {
  'app.title': 'VECR Garage メンバー',
  'lang.switch': 'English',
  'signin.title': 'サインイン',
  'signin.user': 'ユーザー名',
  'signin.password': 'パスワード',
  'signin.submit': 'サインイン',
  'signin.failed': 'ユーザー名またはパスワードが違います。',
  'signin.limited': 'このアドレスからのサインインの失敗が多すぎます。{seconds} 秒後にもう一度お試しください。',
  'signin.none': 'アカウントが設定されていません。VECR_UI_USERS を設定する（`vecr password` を参照）か、サービスを 127.0.0.1 で動かし、表示される一回限りのサインイン URL を開いてください。',
  'signin.onceSpent': 'このサインインリンクは使用済みか無効です。サービスを再起動して新しいリンクを得るか、アカウントでサインインしてください。',
  'home.signedInAs': '{name}（{role}）としてサインイン中',
  'home.next': 'ここにメンバー一覧が入ります。',
  'role.admin': '管理者',
  'role.viewer': '閲覧者（読み取りのみ）',
  'signout.submit': 'サインアウト',
};

const catalogues: Record<Language, Record<Key, string>> = { en, ja };

/** The string of `key` in `language`, with `{name}` placeholders filled in (the page escapes them). */
export function t(language: Language, key: Key, values: Record<string, string | number> = {}): string {
  return catalogues[language][key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

export const languageCookie = 'lang';

/**
 * The page's language: the `lang` cookie (set by the switch link), else the first of ja and en in
 * the browser's Accept-Language by preference (q), else Japanese when it names neither — the team
 * the UI is for reads Japanese.
 */
export function languageOf(request: FastifyRequest): Language {
  const chosen = cookiesOf(request)[languageCookie];
  if (isLanguage(chosen)) return chosen;
  const preferred = (request.headers['accept-language'] ?? '')
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((param) => /^\s*q=([\d.]+)\s*$/.exec(param)?.[1]).find(Boolean);
      return { language: tag.split('-')[0], q: q === undefined ? 1 : Number(q), index };
    })
    .filter((entry): entry is { language: Language; q: number; index: number } => isLanguage(entry.language) && entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  return preferred[0]?.language ?? 'ja';
}

export function isLanguage(value: unknown): value is Language {
  return (languages as readonly unknown[]).includes(value);
}
