// image.js: one image or index: its digest, its manifest pretty-printed,
// its layers and its referrers; admin may delete it.
import { api, q } from './api.js';
import { clear, copyField, fmtBytes, h, link, note, table } from './dom.js';

// The manifest is stored byte for byte; this is only its display form.
function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
}

export async function render(main, params, ctx) {
  const repo = params.repo;
  const img = await api('GET', '/api/v1/image' + q({ repo, ref: params.ref }));
  if (ctx.registry === undefined) ctx.registry = (await api('GET', '/api/v1/overview')).registry;
  const msg = h('div', { id: 'image-msg' });
  const del = ctx.session.role === 'admin' ? h('button', { type: 'button', class: 'danger',
    id: 'delete-image', onclick: async () => {
      if (!confirm(`Delete ${repo}@${img.digest} and every tag that points at it?`)) return;
      try {
        await api('DELETE', '/api/v1/image' + q({ repo, digest: img.digest }));
        ctx.go('repo', { name: repo });
      } catch (e) {
        clear(msg, note('error', e.message));
      }
    } }, 'Delete image') : null;
  const children = (() => {
    try { return JSON.parse(img.manifest).manifests || []; } catch (e) { return []; }
  })();
  clear(main,
    h('p', { class: 'crumbs' }, link('repos', null, 'Repositories'), ' / ',
      link('repo', { name: repo }, repo), ' / '),
    h('h1', null, params.ref),
    h('dl', { class: 'facts' },
      h('dt', null, 'Digest'), h('dd', null, h('code', { id: 'digest' }, img.digest)),
      h('dt', null, 'Media type'), h('dd', { id: 'media-type' }, img.media_type),
      h('dt', null, 'By digest'), h('dd', null, copyField(
        ctx.registry + '/' + repo + '@' + img.digest, 'reference by digest'))),
    del, msg,
    children.length ? [h('h2', null, 'Images of the index'),
      table(['Digest', 'Platform', 'Size'], children.map((c) => h('tr', null,
        h('td', null, link('image', { repo, ref: String(c.digest) },
          h('code', { class: 'digest' }, String(c.digest)))),
        h('td', null, c.platform ? [c.platform.os, c.platform.architecture,
          c.platform.variant].filter(Boolean).join('/') : '–'),
        h('td', { class: 'num' }, fmtBytes(c.size)))))] : null,
    h('h2', null, 'Layers'),
    table(['Digest', 'Media type', 'Size'], (img.layers || []).map((l) => h('tr', null,
      h('td', null, h('code', { class: 'digest' }, l.digest)), h('td', null, l.media_type),
      h('td', { class: 'num' }, fmtBytes(l.size)))), { id: 'layers' }),
    h('h2', null, 'Referrers'),
    table(['Digest', 'Artifact type', 'Media type', 'Size'], (img.referrers || []).map((r) =>
      h('tr', null, h('td', null, link('image', { repo, ref: r.digest },
        h('code', { class: 'digest' }, r.digest))),
      h('td', null, r.artifact_type || '–'), h('td', null, r.media_type),
      h('td', { class: 'num' }, fmtBytes(r.size)))), { id: 'referrers' }),
    h('h2', null, 'Manifest'),
    h('pre', { id: 'manifest', class: 'json' }, pretty(img.manifest)));
}
