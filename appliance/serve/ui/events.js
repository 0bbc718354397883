// events.js: the recent webhook decisions and bundle loads, newest first,
// from barged's in-memory ring (lost at a restart; the logs keep them).
import { api } from './api.js';
import { clear, fmtTime, h, table } from './dom.js';

function eventTable(id, events) {
  return table(['Time', 'What', 'Detail'], events.map((e) => h('tr', null,
    h('td', null, fmtTime(e.time)), h('td', null, e.summary),
    h('td', { class: 'detail' }, e.detail || ''))), { id });
}

export async function render(main) {
  const [wh, ld] = await Promise.all([
    api('GET', '/api/v1/events?kind=webhook&n=50'),
    api('GET', '/api/v1/events?kind=load&n=50'),
  ]);
  clear(main, h('h1', null, 'Recent events'),
    h('h2', null, 'Webhook decisions'),
    h('p', { class: 'hint' }, 'What the admission webhook swapped, what it left and why.'),
    eventTable('webhook-events', wh.events),
    h('h2', null, 'Bundle loads'),
    eventTable('load-events', ld.events));
}
