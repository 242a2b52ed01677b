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
  'team.title': 'The team',
  'team.kinds': 'Kinds of member',
  'team.all': 'Everyone',
  'team.humans': 'Humans',
  'team.virtuals': 'AI members',
  'team.search': 'Name contains',
  'team.sort': 'Sort by',
  'team.sortName': 'Name',
  'team.sortUpdated': 'Last change (newest first)',
  'team.apply': 'Show',
  'team.clear': 'Clear the filters',
  'team.count': '{count} members',
  'team.none': 'No member matches.',
  'team.kind': 'Kind',
  'team.tags': 'Skills / expertise',
  'team.pages': 'Pages',
  'team.page': 'Page {page} of {pages}',
  'team.prev': '← Previous',
  'team.next': 'Next →',
  'kind.human': 'Human',
  'kind.virtual': 'AI',
  'field.name': 'Name',
  'field.role': 'Role',
  'field.skills': 'Skills',
  'field.bio': 'Bio',
  'field.contact_email': 'Contact e-mail',
  'field.github_username': 'GitHub user',
  'field.llm_model': 'Model',
  'field.system_prompt': 'System prompt',
  'field.personality_traits': 'Traits',
  'field.expertise_areas': 'Expertise',
  'field.file_uri': 'File',
  'field.created_at': 'Created',
  'field.updated_at': 'Last change',
  'member.back': '← The team',
  'member.noFile': 'none (written by another tool)',
  'member.notFound': 'No such member',
  'member.notFoundText': 'No member is named “{name}”.',
  'sync.state': 'Sync state',
  'sync.registered': 'in step with its file',
  'sync.noFile': 'no file',
  'sync.invalidShort': 'file invalid',
  'sync.invalidTitle': 'The file has changed and its latest version is invalid',
  'sync.invalidText': 'Below is its last good version, still registered. Fix these problems in the file:',
  'role.admin': 'administrator',
  'role.viewer': 'viewer (read only)',
  'signout.submit': 'Sign out',
  // The sync page (ui/sync.ts).
  'syncPage.title': 'Sync with storage',
  'syncPage.running': 'A sync is under way.',
  'syncPage.reload': 'Reload to see how it ended',
  'syncPage.failed': 'The last sync failed: {message}',
  'syncPage.done': 'The sync you asked for is done',
  'syncPage.summary': '{created} created, {updated} updated, {unchanged} unchanged, {deleted} deleted, {invalid} invalid files, in {ms} ms.',
  'syncPage.action.created': 'Created',
  'syncPage.action.updated': 'Updated',
  'syncPage.action.deleted': 'Deleted',
  'syncPage.moreChanges': 'and {count} more changes.',
  'syncPage.last': 'Last full sync',
  'syncPage.never': 'No full sync has run yet.',
  'syncPage.trigger': 'Started by',
  'syncPage.started': 'Started',
  'syncPage.finished': 'Finished',
  'syncPage.counts': 'Result',
  'syncPage.runCounts': '{created} created, {updated} updated, {unchanged} unchanged, {deleted} deleted, {invalid} invalid files',
  'syncPage.members': 'Members',
  'syncPage.memberCounts': '{human} humans, {virtual} AI members',
  'syncPage.now': 'Sync now',
  'syncPage.invalid': 'Invalid files ({count})',
  'syncPage.noInvalid': 'Every member file is valid.',
  'syncPage.first': '← First page',
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
  'team.title': 'チーム',
  'team.kinds': 'メンバーの種類',
  'team.all': 'すべて',
  'team.humans': '人間',
  'team.virtuals': 'AI メンバー',
  'team.search': '名前に含む文字',
  'team.sort': '並び順',
  'team.sortName': '名前',
  'team.sortUpdated': '最終更新（新しい順）',
  'team.apply': '表示',
  'team.clear': '絞り込みを解除',
  'team.count': '{count} 人',
  'team.none': '該当するメンバーはいません。',
  'team.kind': '種類',
  'team.tags': 'スキル／専門分野',
  'team.pages': 'ページ',
  'team.page': '{page} / {pages} ページ',
  'team.prev': '← 前へ',
  'team.next': '次へ →',
  'kind.human': '人間',
  'kind.virtual': 'AI',
  'field.name': '名前',
  'field.role': '役割',
  'field.skills': 'スキル',
  'field.bio': '紹介',
  'field.contact_email': '連絡先メール',
  'field.github_username': 'GitHub ユーザー',
  'field.llm_model': 'モデル',
  'field.system_prompt': 'システムプロンプト',
  'field.personality_traits': '性格',
  'field.expertise_areas': '専門分野',
  'field.file_uri': 'ファイル',
  'field.created_at': '作成',
  'field.updated_at': '最終更新',
  'member.back': '← チームへ',
  'member.noFile': 'なし（別のツールで書き込まれたもの）',
  'member.notFound': 'メンバーが見つかりません',
  'member.notFoundText': '「{name}」という名前のメンバーはいません。',
  'sync.state': '同期の状態',
  'sync.registered': 'ファイルと一致',
  'sync.noFile': 'ファイルなし',
  'sync.invalidShort': 'ファイルが無効',
  'sync.invalidTitle': 'ファイルが変更され、最新の版が無効です',
  'sync.invalidText': '以下は登録済みの最後の正しい版です。ファイルの次の問題を直してください：',
  'role.admin': '管理者',
  'role.viewer': '閲覧者（読み取りのみ）',
  'signout.submit': 'サインアウト',
  // 同期ページ (ui/sync.ts)。
  'syncPage.title': 'ストレージとの同期',
  'syncPage.running': '同期を実行中です。',
  'syncPage.reload': '再読み込みして結果を見る',
  'syncPage.failed': '最後の同期が失敗しました：{message}',
  'syncPage.done': '依頼した同期が終わりました',
  'syncPage.summary': '作成 {created}、更新 {updated}、変更なし {unchanged}、削除 {deleted}、無効なファイル {invalid}（{ms} ms）。',
  'syncPage.action.created': '作成',
  'syncPage.action.updated': '更新',
  'syncPage.action.deleted': '削除',
  'syncPage.moreChanges': 'ほか {count} 件の変更。',
  'syncPage.last': '最後の全体同期',
  'syncPage.never': '全体同期はまだ実行されていません。',
  'syncPage.trigger': '開始のきっかけ',
  'syncPage.started': '開始',
  'syncPage.finished': '終了',
  'syncPage.counts': '結果',
  'syncPage.runCounts': '作成 {created}、更新 {updated}、変更なし {unchanged}、削除 {deleted}、無効なファイル {invalid}',
  'syncPage.members': 'メンバー',
  'syncPage.memberCounts': '人間 {human} 人、AI メンバー {virtual} 人',
  'syncPage.now': '今すぐ同期',
  'syncPage.invalid': '無効なファイル（{count}）',
  'syncPage.noInvalid': 'すべてのメンバーファイルが有効です。',
  'syncPage.first': '← 最初のページ',
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
