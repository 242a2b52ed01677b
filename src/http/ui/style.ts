/** The UI's one stylesheet, served from /ui/static/style.css (the pages allow no inline styles). */
export const stylesheet = `:root { color-scheme: light dark; font-family: system-ui, "Hiragino Sans", "Noto Sans CJK JP", "Yu Gothic UI", sans-serif; line-height: 1.6; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; }
header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; border-bottom: 1px solid #8884; margin-bottom: 1rem; }
header h1 { font-size: 1.25rem; margin: 0.5rem 0; }
form.signin { display: grid; gap: 0.75rem; max-width: 22rem; }
label { display: grid; gap: 0.25rem; }
input, button, select { font: inherit; padding: 0.4rem 0.6rem; }
button { cursor: pointer; }
.message { border-left: 4px solid #c33; padding: 0.25rem 0.75rem; }
:focus-visible { outline: 3px solid #36c; outline-offset: 2px; }
.account { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: center; gap: 0.5rem; }
.account p { margin: 0; }
nav.sections { display: flex; flex-wrap: wrap; gap: 1rem; margin: 0.5rem 0; }
ul.tabs { display: flex; flex-wrap: wrap; gap: 0.5rem; list-style: none; padding: 0; }
ul.tabs a { display: inline-block; padding: 0.3rem 0.8rem; border: 1px solid #8886; border-radius: 0.4rem; }
ul.tabs a[aria-current="page"] { font-weight: bold; border-color: currentColor; }
form.filters { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: 0.75rem; align-items: end; margin-bottom: 1rem; }
form.filters input, form.filters select { box-sizing: border-box; width: 100%; min-width: 0; }
/* Two columns for the button and the link, so that "Clear the filters" stays on one line. */
form.filters .actions { display: flex; gap: 1rem; align-items: center; grid-column: span 2; white-space: nowrap; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.35rem 0.5rem; border-bottom: 1px solid #8884; }
td.file, dd.file { font-family: ui-monospace, monospace; font-size: 0.9em; }
dd.file { overflow-wrap: anywhere; }
td.file, td time, th, td.kind, button { white-space: nowrap; }
/* A name in the first column is not broken inside a Japanese word (山田太郎), only at its spaces. */
td:first-child { word-break: keep-all; }
.badge { display: inline-block; font-size: 0.8em; padding: 0 0.4rem; border: 1px solid #c33; border-radius: 0.3rem; color: #c33; }
nav.pages { display: flex; gap: 1rem; align-items: center; margin: 1rem 0; }
h2 small { font-size: 0.7em; font-weight: normal; opacity: 0.8; }
dl.fields { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: 0.4rem 1rem; }
dl.fields dt { font-weight: bold; }
dl.fields dd { margin: 0; min-width: 0; }
dd.long { white-space: pre-wrap; overflow-wrap: anywhere; }
ul.tags { display: flex; flex-wrap: wrap; gap: 0.4rem; list-style: none; margin: 0; padding: 0; }
ul.tags li { padding: 0 0.5rem; border: 1px solid #8886; border-radius: 0.3rem; }
ul.problems code { font-family: ui-monospace, monospace; }
.hint { display: block; opacity: 0.8; }
@media (max-width: 40rem) {
  body { padding: 0.5rem; }
  dl.fields { grid-template-columns: 1fr; }
  dl.fields dd { margin-bottom: 0.5rem; }
  th, td { padding: 0.3rem; }
  /* A list's rows become cards on a phone: every cell in sight, none behind a sideways scroll.
     The header row stays for screen readers only. */
  .scroll table, .scroll tbody { display: block; }
  .scroll thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  .scroll tr { display: flex; flex-wrap: wrap; gap: 0.1rem 0.75rem; padding: 0.5rem 0; border-bottom: 1px solid #8884; }
  .scroll td { display: block; padding: 0; border: 0; }
  .scroll td:first-child { flex-basis: 100%; font-weight: bold; }
  .scroll td:empty { display: none; }
  .scroll td.file { white-space: normal; overflow-wrap: anywhere; }
}
/* The chat log pages (/chat): a transcript reads like a conversation. */
ol.transcript { list-style: none; padding: 0; display: grid; gap: 0.75rem; }
ol.transcript li { border-left: 4px solid #8886; padding: 0.25rem 0.75rem; }
ol.transcript li.ai { border-left-color: #36c; background: #36c1; }
ol.transcript .speaker { margin: 0; }
ol.transcript .kind { font-size: 0.8em; padding: 0 0.4rem; border: 1px solid #8886; border-radius: 0.3rem; }
ol.transcript .model, ol.transcript .tokens { opacity: 0.8; font-size: 0.9em; }
ol.transcript .content { white-space: pre-wrap; overflow-wrap: anywhere; }
/* The sync page (ui/sync.ts). */
ul.invalid > li { margin-bottom: 0.5rem; }
ul.invalid code.file { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
ul.changes code { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
/* Creating and editing members (ui/edit.ts). */
.message.notice { border-left-color: #393; }
form.member { display: grid; gap: 0.75rem; max-width: 48rem; }
form.member .field { display: grid; gap: 0.25rem; }
form.member .field > label { display: block; }
form.member input, form.member textarea { box-sizing: border-box; width: 100%; font: inherit; padding: 0.4rem 0.6rem; }
form.member textarea#yaml, pre.file { font-family: ui-monospace, monospace; }
form.member button { justify-self: start; }
.field.invalid input, .field.invalid textarea, textarea[aria-invalid="true"] { border: 2px solid #c33; }
.field .problems, div.problems { color: #c33; margin: 0; }
.required { font-weight: normal; font-size: 0.85em; opacity: 0.8; }
.versions { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
pre.file { white-space: pre-wrap; overflow-wrap: anywhere; border: 1px solid #8886; padding: 0.5rem; margin: 0; }
`;
