// dom.js: building the page from data with DOM calls only.  Every value
// from the server becomes a text node (textContent), never markup, so a
// repository named "<img src=x onerror=...>" shows as those characters.

// h(tag, attrs, ...children): a new element.  attrs: "class", "on<event>"
// (a listener), properties the element has (value, checked, disabled...),
// else attributes.  Children: nodes, strings (text), arrays, null (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear(el, ...children): replaces el's content.
export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A link to a page of ours: the query parts are encoded, never raw.
export function link(page, params, ...children) {
  const q = new URLSearchParams(params || {}).toString();
  return h('a', { href: '#/' + page + (q ? '?' + q : '') }, ...children);
}

export function table(headers, rows, attrs) {
  return h('div', { class: 'scroll' },
    h('table', attrs || {},
      h('thead', null, h('tr', null, headers.map((t) => h('th', null, t)))),
      h('tbody', null, rows.length ? rows : h('tr', null,
        h('td', { class: 'empty', colSpan: headers.length }, 'none')))));
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + u[i];
}

// A time as the server sends it (Unix seconds or RFC 3339) in the reader's locale.
export function fmtTime(t) {
  if (t === null || t === undefined || t === '') return '–';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

// A message line: kind "error", "ok" or "info"; the text is text.
export function note(kind, text) {
  return h('p', { class: 'note ' + kind, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// Copies text; answers whether it worked.  The Clipboard API needs a secure
// context (barged serves HTTPS); a selected field and execCommand is the
// fallback where the API is refused.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    const ta = h('textarea', { readOnly: true, class: 'offscreen' }, text);
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}

// A read-only reference with a Copy button that says when it copied.
export function copyField(text, label) {
  const status = h('span', { class: 'copied', 'aria-live': 'polite' });
  const btn = h('button', {
    type: 'button', class: 'small', title: 'Copy ' + (label || ''),
    onclick: async () => {
      const ok = await copyText(text);
      status.textContent = ok ? 'copied' : 'copy failed';
      btn.dataset.copied = ok ? text : '';
    },
  }, 'Copy');
  return h('span', { class: 'copyfield' }, h('code', null, text), ' ', btn, ' ', status);
}
