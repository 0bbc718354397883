// app.js: the shell.  Pages are addressed by the URL fragment
// (#/repos?q=...), so that barged serves one document at "/" and every
// page works offline from the embedded assets.  Each page module exports
// render(main, params, ctx).
import { api, setCsrf, setUnauthorizedHandler } from './api.js';
import { clear, h, note } from './dom.js';
import * as login from './login.js';
import * as overview from './overview.js';
import * as repos from './repos.js';
import * as image from './image.js';
import * as bundles from './bundles.js';
import * as tokens from './tokens.js';
import * as events from './events.js';

const pages = {
  '': overview.render,
  login: login.render,
  repos: repos.render,
  repo: repos.renderRepo,
  image: image.render,
  bundles: bundles.render,
  tokens: tokens.render,
  events: events.render,
};

const ctx = { session: null, go, setSession };

function go(page, params) {
  const qs = new URLSearchParams(params || {}).toString();
  const target = '#/' + page + (qs ? '?' + qs : '');
  if (location.hash === target) route();
  else location.hash = target;
}

function setSession(s) {
  ctx.session = s;
  setCsrf(s ? s.csrf : null);
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.hidden = !s;
  if (!s) {
    clear(who);
    return;
  }
  clear(who, h('span', { class: 'user' }, s.user),
    h('span', { class: 'role' }, s.role === 'admin' ? 'admin' : 'read-only'), ' ',
    h('button', { type: 'button', class: 'small', id: 'logout', onclick: logout }, 'Log out'));
}

async function logout() {
  try { await api('POST', '/api/v1/logout'); } catch (e) { /* gone already */ }
  setSession(null);
  go('login');
}

async function route() {
  const main = document.getElementById('main');
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, qs] = hash.split('?');
  const render = pages[page];
  const params = Object.fromEntries(new URLSearchParams(qs || ''));
  if (!ctx.session && page !== 'login') {
    go('login', { next: hash });
    return;
  }
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('active', a.dataset.page === (page || 'overview') ||
      (page === 'repo' || page === 'image') && a.dataset.page === 'repos');
  document.body.dataset.page = page || 'overview';
  if (!render) {
    clear(main, note('error', 'No such page: ' + page));
    return;
  }
  clear(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    await render(main, params, ctx);
  } catch (e) {
    if (e.status !== 401) clear(main, note('error', e.message || String(e)));
  }
}

async function start() {
  setUnauthorizedHandler(() => {
    setSession(null);
    if (!location.hash.startsWith('#/login')) go('login');
  });
  try {
    setSession(await api('GET', '/api/v1/session'));
  } catch (e) {
    setSession(null);
  }
  window.addEventListener('hashchange', route);
  await route();
}

start();
