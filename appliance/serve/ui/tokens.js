// tokens.js: read-only tokens: create one (name, expiry, repository
// scope; the token is shown once), list them, revoke one.
import { api } from './api.js';
import { clear, copyField, fmtTime, h, note, table } from './dom.js';

const EXPIRIES = [['never', ''], ['1 hour', 3600], ['1 day', 86400], ['7 days', 604800],
  ['30 days', 2592000], ['1 year', 31536000]];

async function listInto(el, ctx) {
  const r = await api('GET', '/api/v1/tokens');
  const msg = h('div', { id: 'token-msg' });
  const admin = ctx.session.role === 'admin';
  clear(el, msg, table(['Name', 'Created', 'Expires', 'Scope', ''],
    r.tokens.map((t) => h('tr', { 'data-token': t.name },
      h('td', null, t.name), h('td', null, fmtTime(t.created)),
      h('td', null, t.expires ? fmtTime(t.expires) : 'never'),
      h('td', null, t.scope && t.scope.length ? t.scope.join(', ') : 'every repository'),
      h('td', null, admin ? h('button', { type: 'button', class: 'small danger',
        onclick: async () => {
          if (!confirm(`Revoke the token ${t.name}? Clients using it are refused at once.`))
            return;
          try {
            await api('DELETE', '/api/v1/tokens/' + encodeURIComponent(t.id));
            await listInto(el, ctx);
          } catch (e) {
            clear(msg, note('error', e.message));
          }
        } }, 'Revoke') : null))), { id: 'tokens' }));
}

function creator(list, ctx) {
  const name = h('input', { id: 'token-name', required: true, pattern: '[A-Za-z0-9._\\-]+',
    placeholder: 'nodes' });
  const exp = h('select', { id: 'token-expiry' },
    EXPIRIES.map(([t, v]) => h('option', { value: String(v) }, t)));
  const scope = h('input', { id: 'token-scope', placeholder: 'edge/docker.io/library/* (empty: all)' });
  const out = h('div', { id: 'token-created' });
  return h('form', { class: 'card', onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out);
    try {
      const r = await api('POST', '/api/v1/tokens', {
        name: name.value,
        expires_in: exp.value ? Number(exp.value) : null,
        scope: scope.value.split(/[\s,]+/).filter(Boolean),
      });
      clear(out, note('ok', `Created the token ${r.name}. It is shown only now: copy it.`),
        h('div', { class: 'secret' }, copyField(r.token, 'token')));
      name.value = '';
      scope.value = '';
      await listInto(list, ctx);
    } catch (e) {
      clear(out, note('error', e.message));
    }
  } },
  h('h2', null, 'Create a read-only token'),
  h('label', null, 'Name', name),
  h('label', null, 'Expires after', exp),
  h('label', null, 'Repositories (globs, space or comma separated)', scope),
  h('button', { type: 'submit', id: 'create-token' }, 'Create'), out);
}

export async function render(main, params, ctx) {
  const list = h('div', { id: 'token-list' });
  await listInto(list, ctx);
  clear(main, h('h1', null, 'Tokens'), list,
    ctx.session.role === 'admin' ? creator(list, ctx) : null);
}
