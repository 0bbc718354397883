// repos.js: the repositories (filtered by a substring, a page at a time)
// and one repository's tags, with their pull references.
import { api, q } from './api.js';
import { clear, copyField, fmtBytes, fmtTime, h, link, note } from './dom.js';

const PAGE = 100;

export async function render(main, params, ctx) {
  const filter = h('input', { type: 'search', id: 'filter', placeholder: 'Filter repositories',
    value: params.q || '', 'aria-label': 'Filter repositories' });
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'small', hidden: true }, 'More');
  const count = h('p', { class: 'hint', id: 'repo-count' });
  let next = null;
  let shown = 0;
  let seq = 0;

  async function load(reset) {
    const mine = ++seq;
    if (reset) { next = null; shown = 0; }
    const r = await api('GET', '/api/v1/repositories' +
      q({ q: filter.value, last: reset ? null : next, n: PAGE }));
    if (mine !== seq) return; /* a newer filter answered first */
    if (reset) clear(body);
    for (const repo of r.repositories) {
      body.append(h('tr', null,
        h('td', null, link('repo', { name: repo.name }, repo.name)),
        h('td', { class: 'num' }, String(repo.tags)),
        h('td', { class: 'num' }, fmtBytes(repo.size))));
    }
    shown += r.repositories.length;
    next = r.next;
    more.hidden = !next;
    count.textContent = shown + (next ? '+' : '') + ' repositories' +
      (filter.value ? ' matching the filter' : '');
  }
  let timer = null;
  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      history.replaceState(null, '', '#/repos' + q({ q: filter.value }));
      load(true).catch((e) => clear(body, h('tr', null, h('td', { colSpan: 3 },
        note('error', e.message)))));
    }, 200);
  });
  more.addEventListener('click', () => load(false));
  clear(main, h('h1', null, 'Repositories'), filter, count,
    h('div', { class: 'scroll' }, h('table', { id: 'repos' },
      h('thead', null, h('tr', null, h('th', null, 'Repository'), h('th', null, 'Tags'),
        h('th', null, 'Size'))), body)), more);
  await load(true);
}

function origin(o) {
  if (!o) return '–';
  if (o.kind === 'bundle' && o.bundle) return 'bundle ' + o.bundle;
  if (o.kind === 'proxy' && o.registry) return 'proxy ' + o.registry;
  return o.kind;
}

// One repository's tags, a page at a time (More), as the repositories list.
export async function renderRepo(main, params, ctx) {
  const repo = params.name;
  const msg = h('div', { id: 'repo-msg' });
  const admin = ctx.session.role === 'admin';
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'small', id: 'tags-more', hidden: true },
    'More');
  const count = h('p', { class: 'hint', id: 'tag-count' });
  let next = null;
  let shown = 0;

  function row(t) {
    const del = admin ? h('button', { type: 'button', class: 'small danger', onclick: async () => {
      if (!confirm(`Delete the tag ${repo}:${t.tag}? The image stays while another tag or a ` +
        'bundle needs it.'))
        return;
      try {
        await api('DELETE', '/api/v1/tags' + q({ repo, tag: t.tag }));
        ctx.go('repo', { name: repo, deleted: t.tag });
      } catch (e) {
        clear(msg, note('error', e.message));
      }
    } }, 'Delete') : null;
    return h('tr', { 'data-tag': t.tag },
      h('td', null, link('image', { repo, ref: t.tag }, t.tag)),
      h('td', null, link('image', { repo, ref: t.digest }, h('code', { class: 'digest' }, t.digest))),
      h('td', null, t.media_type),
      h('td', null, (t.platforms || []).join(', ') || '–'),
      h('td', { class: 'num' }, fmtBytes(t.size)),
      h('td', null, fmtTime(t.created)),
      h('td', null, origin(t.origin)),
      h('td', { class: 'refs' }, copyField(t.pull, 'pull reference'),
        t.mirror ? h('div', null, h('span', { class: 'hint' }, 'mirror: '),
          copyField(t.mirror, 'mirror reference')) : null),
      h('td', null, del));
  }
  async function load() {
    more.disabled = true;
    try {
      const r = await api('GET', '/api/v1/tags' + q({ repo, last: next, n: PAGE }));
      if (!shown && !r.tags.length)
        body.append(h('tr', null, h('td', { class: 'empty', colSpan: 9 }, 'none')));
      body.append(...r.tags.map(row));
      shown += r.tags.length;
      next = r.next;
      more.hidden = !next;
      count.textContent = shown + (next ? '+' : '') + (shown === 1 && !next ? ' tag' : ' tags');
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', () => load().catch((e) => clear(msg, note('error', e.message))));
  await load();
  clear(main,
    h('p', { class: 'crumbs' }, link('repos', null, 'Repositories'), ' / '),
    h('h1', { id: 'repo-name' }, repo),
    params.deleted ? note('ok', 'Deleted the tag ' + params.deleted + '.') : null,
    msg, count,
    h('div', { class: 'scroll' }, h('table', { id: 'tags' },
      h('thead', null, h('tr', null, ['Tag', 'Digest', 'Media type', 'Platforms', 'Size',
        'Created', 'From', 'Pull', ''].map((t) => h('th', null, t)))), body)), more);
}
