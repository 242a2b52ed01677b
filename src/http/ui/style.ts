/** The UI's one stylesheet, served from /ui/static/style.css (the pages allow no inline styles). */
export const stylesheet = `:root { color-scheme: light dark; font-family: system-ui, "Hiragino Sans", "Noto Sans CJK JP", "Yu Gothic UI", sans-serif; line-height: 1.6; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem; }
header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; border-bottom: 1px solid #8884; margin-bottom: 1rem; }
header h1 { font-size: 1.25rem; margin: 0.5rem 0; }
form.signin { display: grid; gap: 0.75rem; max-width: 22rem; }
label { display: grid; gap: 0.25rem; }
input, button { font: inherit; padding: 0.4rem 0.6rem; }
button { cursor: pointer; }
.message { border-left: 4px solid #c33; padding: 0.25rem 0.75rem; }
:focus-visible { outline: 3px solid #36c; outline-offset: 2px; }
`;
