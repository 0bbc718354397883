// overview.js: what the store holds, its health, and garbage collection.
import { api } from './api.js';
import { clear, fmtBytes, fmtTime, h, note, table } from './dom.js';

function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([k, v, id]) =>
    [h('dt', null, k), h('dd', id ? { id } : null, v)]));
}

function yesNo(b) {
  return h('span', { class: b ? 'good' : 'bad' }, b ? 'yes' : 'no');
}

export async function render(main, params, ctx) {
  const o = await api('GET', '/api/v1/overview');
  const gcOut = h('div', { id: 'gc-result' });
  const gcBtn = h('button', { type: 'button', id: 'run-gc', onclick: async () => {
    if (!confirm('Run garbage collection now? Blobs no tag or bundle needs are removed.'))
      return;
    gcBtn.disabled = true;
    clear(gcOut, h('p', { class: 'loading' }, 'Collecting…'));
    try {
      const r = await api('POST', '/api/v1/gc', {});
      clear(gcOut, note('ok', `Removed ${r.removed_manifests} manifests and ${r.removed_blobs} ` +
        `blobs, ${fmtBytes(r.removed_bytes)}.`));
    } catch (e) {
      clear(gcOut, note('error', e.message));
    }
    gcBtn.disabled = false;
  } }, 'Run GC');
  const ups = o.upstreams || [];
  clear(main,
    h('h1', null, 'Overview'),
    h('section', { class: 'grid' },
      h('div', { class: 'card stat' }, h('b', { id: 'n-images' }, String(o.images)), 'images'),
      h('div', { class: 'card stat' }, h('b', null, String(o.repositories)), 'repositories'),
      h('div', { class: 'card stat' }, h('b', null, String(o.tags)), 'tags'),
      h('div', { class: 'card stat' }, h('b', null, String(o.bundles)), 'bundles'),
      h('div', { class: 'card stat' }, h('b', null, fmtBytes(o.store_bytes)), 'stored'),
      h('div', { class: 'card stat' }, h('b', null, fmtBytes(o.free_bytes)), 'free')),
    h('section', { class: 'card' },
      dl([
        ['Version', o.version],
        ['Up since', fmtTime(o.started_at)],
        ['Healthy', yesNo(o.healthy)],
        ['Ready', yesNo(o.ready)],
        ['Registry', o.registry, 'registry'],
      ])),
    ups.length ? h('section', null, h('h2', null, 'Upstreams'),
      table(['Registry', 'URL', 'State'], ups.map((u) =>
        h('tr', { 'data-registry': u.registry }, h('td', null, u.registry), h('td', null, u.url),
          h('td', { class: u.state === 'up' ? 'good' : 'bad' }, u.state))),
      { id: 'upstreams' })) : null,
    ctx.session.role === 'admin' ? h('section', { class: 'card' },
      h('h2', null, 'Garbage collection'),
      h('p', { class: 'hint' }, 'Removes manifests and blobs that no tag, image or bundle ' +
        'references any more.'), gcBtn, gcOut) : null);
}
