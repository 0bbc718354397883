// bundles.js: the loaded bundles (admin may remove one) and the upload of
// a bundle file, streamed to PUT /api/v1/bundles with its progress shown.
import { api, uploadBundle } from './api.js';
import { clear, fmtBytes, fmtTime, h, note, table } from './dom.js';

function uploader(ctx) {
  const file = h('input', { type: 'file', id: 'bundle-file', accept: '.zst,.tar.zst,.bundle' });
  const bar = h('progress', { id: 'upload-progress', max: 1, value: 0, hidden: true });
  const pct = h('span', { id: 'upload-pct', class: 'hint' });
  const out = h('div', { id: 'upload-result' });
  const go = h('button', { type: 'submit', id: 'upload' }, 'Upload and load');
  return h('form', { class: 'card', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) {
      clear(out, note('error', 'Choose a bundle file first.'));
      return;
    }
    go.disabled = true;
    bar.hidden = false;
    bar.max = f.size || 1;
    bar.value = 0;
    clear(out, h('p', { class: 'loading' }, 'Uploading ' + f.name + '…'));
    try {
      const r = await uploadBundle(f, (sent, total) => {
        bar.max = total || 1;
        bar.value = sent;
        pct.textContent = `${fmtBytes(sent)} of ${fmtBytes(total)}` +
          (sent >= total ? ' sent; the bundle is loading…' : '');
      });
      pct.textContent = '';
      clear(out, note('ok', `Loaded ${r.name} ${r.version}: ${r.images} images` +
        (r.reloaded ? ' (already loaded: reloaded)' : '') + '.'),
      h('pre', { class: 'json', id: 'upload-json' }, JSON.stringify(r, null, 2)));
      await listInto(document.getElementById('bundle-list'), ctx);
    } catch (e) {
      pct.textContent = '';
      clear(out, note('error', e.message));
    }
    go.disabled = false;
  } },
  h('h2', null, 'Upload a bundle'),
  h('p', { class: 'hint' }, 'The file is streamed to barged, checked and loaded; ' +
    'a bundle already loaded is loaded again.'),
  file, ' ', go, h('div', { class: 'progress' }, bar, ' ', pct), out);
}

async function listInto(el, ctx) {
  const r = await api('GET', '/api/v1/bundles');
  const msg = h('div', { id: 'bundle-msg' });
  const admin = ctx.session.role === 'admin';
  clear(el, msg, table(
    ['Name', 'Version', 'Signer', 'Loaded', 'From', 'Images', 'Pinned', ''],
    r.bundles.map((b) => h('tr', { 'data-bundle': String(b.id) },
      h('td', null, b.name), h('td', null, b.version), h('td', null, b.signer || 'unsigned'),
      h('td', null, fmtTime(b.loaded_at)), h('td', null, b.source || '–'),
      h('td', { class: 'num' }, String(b.images)), h('td', { class: 'num' },
        fmtBytes(b.pinned_bytes)),
      h('td', null, admin ? h('button', { type: 'button', class: 'small danger',
        onclick: async () => {
          if (!confirm(`Remove the bundle ${b.name} ${b.version}? Its images stay while ` +
            'tags point at them; GC then frees what nothing needs.'))
            return;
          try {
            await api('DELETE', '/api/v1/bundles/' + encodeURIComponent(b.id));
            await listInto(el, ctx);
          } catch (e) {
            clear(msg, note('error', e.message));
          }
        } }, 'Remove') : null))), { id: 'bundles' }));
}

export async function render(main, params, ctx) {
  const list = h('div', { id: 'bundle-list' });
  await listInto(list, ctx);
  clear(main, h('h1', null, 'Bundles'), list,
    ctx.session.role === 'admin' ? uploader(ctx) : null);
}
