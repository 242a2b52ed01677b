import { describe, expect, it } from 'vitest';
import { html } from '../../../src/http/ui/html.js';

describe('the html template', () => {
  it('escapes every interpolation, in text and in attribute values', () => {
    const name = `<script>alert("x")</script> & 'quoted'`;
    expect(html`<p title="${name}">${name}</p>`.text).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;</p>',
    );
  });

  it('keeps pieces made by html itself, joins arrays, and renders nothing for null, undefined and false', () => {
    const items = ['<a>', 'b'].map((item) => html`<li>${item}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.text).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>0');
  });
});
