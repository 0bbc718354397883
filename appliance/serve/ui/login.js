// login.js: user and password (or a read-only token's name and token).
import { api } from './api.js';
import { clear, h, note } from './dom.js';

export async function render(main, params, ctx) {
  const msg = h('div', { id: 'login-msg' });
  const user = h('input', { name: 'username', id: 'username', autocomplete: 'username',
    required: true, value: 'admin' });
  const pass = h('input', { name: 'password', id: 'password', type: 'password',
    autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', id: 'login' }, 'Log in');
  const form = h('form', { class: 'card narrow', onsubmit: async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    clear(msg);
    try {
      const s = await api('POST', '/api/v1/login', { username: user.value, password: pass.value });
      ctx.setSession(s);
      const next = (params.next || '').split('?');
      ctx.go(next[0] && next[0] !== 'login' ? next[0] : '',
        Object.fromEntries(new URLSearchParams(next[1] || '')));
    } catch (e) {
      clear(msg, note('error', e.status === 401 ? 'Wrong user name or password.' : e.message));
      submit.disabled = false;
    }
  } },
  h('h1', null, 'Log in'),
  h('label', null, 'User', user),
  h('label', null, 'Password', pass),
  h('p', { class: 'hint' },
    'admin with its password, or a read-only token: its name and the token.'),
  submit, msg);
  clear(main, form);
  pass.focus();
}
