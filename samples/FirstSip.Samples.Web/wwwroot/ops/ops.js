// The operations dashboard: plain DOM, no build step. Every value from the server (plugin output, errors, stream
// fields) is put on the page as text (text nodes and textContent), never parsed as HTML.
'use strict';

const api = '/ops/api';
const view = document.getElementById('view');
const problem = document.getElementById('problem');
let readOnly = false;
let current = null;
// The outcome of the last action, shown until the view changes (a live refresh keeps it).
let flash = '';
// The dead letters whose fields are shown, kept open across live refreshes.
const openFields = new Set();

/** Builds an element: attributes from an object, children as nodes or text. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function table(id, headers, rows) {
  return el('table', { id },
    el('thead', {}, el('tr', {}, headers.map(h => el('th', {}, h)))),
    el('tbody', {}, rows));
}

function time(value) {
  if (!value) return '';
  const d = new Date(value);
  return d.toLocaleString(undefined, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function duration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** TimeSpan text from System.Text.Json ("00:01:02.5000000" or "1.02:03:04") in milliseconds. */
function spanMs(text) {
  if (!text) return null;
  const m = /^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(text);
  if (!m) return null;
  return ((+(m[1] || 0) * 24 + +m[2]) * 60 + +m[3]) * 60000 + parseFloat(m[4]) * 1000;
}

function status(text) {
  return el('span', { class: 'status', dataset: { status: text } }, text);
}

async function get(path) {
  const response = await fetch(api + path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function send(method, path) {
  const response = await fetch(api + path, { method });
  let body = null;
  try { body = await response.json(); } catch { /* no body */ }
  return { ok: response.ok, status: response.status, body };
}

function showProblem(text) {
  problem.textContent = text || '';
  problem.hidden = !text;
}

function action(label, onclick, extra) {
  return readOnly ? null : el('button', { type: 'button', onclick, ...(extra || {}) }, label);
}

function runLink(id) {
  return el('a', { href: `#/run/${encodeURIComponent(id)}`, class: 'mono' }, id);
}

// ---------------------------------------------------------------- views

const views = {
  async overview() {
    const data = await get('/overview');
    const q = data.queue;
    const cards = el('div', { class: 'cards', id: 'overview-cards' },
      card('ended in the last hour', data.ended_last_hour, 'card-ended'),
      card('failure rate', `${(data.failure_rate * 100).toFixed(1)} %`, 'card-failure-rate'),
      card('pending', q.pending, 'card-pending'),
      card('waiting for a worker', q.waiting, 'card-waiting'),
      card('running', q.running, 'card-running'),
      card('workers (busy / slots)', `${data.workers} (${data.busy} / ${data.slots})`, 'card-workers'),
      card('dead letters', data.dead_letters, 'card-dead'));
    const failures = table('overview-failures', ['reason', 'runs', 'timed out', 'plugins', 'latest'],
      data.failures.map(f => el('tr', {},
        el('td', { class: 'wrap' }, f.reason), el('td', {}, f.count), el('td', {}, f.timed_out),
        el('td', {}, f.plugins.join(', ')), el('td', {}, runLink(f.latest_run_id)))));
    return [
      data.redis_error ? el('p', { class: 'alert' }, `Redis: ${data.redis_error}`) : null,
      cards,
      el('section', {}, el('h2', {}, 'Runs ended per minute, last hour'),
        el('p', { class: 'legend' }, el('span', { class: 'completed' }, 'completed'), el('span', { class: 'failed' }, 'failed or timed out')),
        chart(data.activity)),
      el('section', {}, el('h2', {}, 'Why runs failed in the last hour'),
        data.failures.length ? failures : el('p', { class: 'muted' }, 'No failures.')),
    ];
  },

  async queues() {
    const streams = await get('/queues');
    const rows = [];
    for (const s of streams) {
      if (s.groups.length === 0) rows.push(el('tr', {}, el('td', {}, s.stream_name), el('td', {}, s.length), el('td', {}, s.dead_letters), el('td', { colspan: 5 }, 'no consumer group')));
      for (const g of s.groups) {
        rows.push(el('tr', { dataset: { stream: s.stream_name } },
          el('td', {}, s.stream_name), el('td', {}, s.length), el('td', {}, s.dead_letters),
          el('td', {}, g.group_name), el('td', {}, g.lag ?? '?'), el('td', {}, g.pending),
          el('td', {}, duration(spanMs(g.oldest_pending_age))),
          el('td', {}, g.consumers.map(c => el('div', { class: 'mono' }, `${c.consumer_name}: ${c.pending} pending, idle ${duration(spanMs(c.idle))}`)))));
      }
    }
    return [el('section', {}, el('h2', {}, 'Queues'),
      table('queues-table', ['stream', 'length', 'dead letters', 'group', 'lag', 'pending', 'oldest pending', 'consumers'], rows))];
  },

  async workers() {
    const workers = await get('/workers');
    const rows = workers.map(w => el('tr', { dataset: { consumer: w.consumer_name } },
      el('td', { class: 'mono' }, w.consumer_name), el('td', {}, w.host ?? ''), el('td', {}, w.process_id ?? ''),
      el('td', {}, w.version ?? ''), el('td', {}, `${w.in_flight.length} / ${w.slots}`),
      el('td', {}, w.in_flight.map(r => el('div', {}, runLink(r.run_id), ` ${r.plugin_name ?? ''} #${r.attempt ?? ''}, since ${time(r.started_at)}`))),
      el('td', {}, w.plugins.join(', ')), el('td', {}, time(w.started_at)), el('td', {}, time(w.seen_at))));
    return [el('section', {}, el('h2', {}, `Live workers (${workers.length})`),
      workers.length ? table('workers-table', ['consumer', 'host', 'pid', 'version', 'busy', 'running', 'plugins', 'started', 'seen'], rows)
        : el('p', { class: 'muted', id: 'workers-none' }, 'No live worker: start a sidecar.'))];
  },

  async runs(params) {
    const query = new URLSearchParams();
    for (const key of ['q', 'status', 'page']) if (params.get(key)) query.set(key, params.get(key));
    const data = await get('/runs?' + query);
    const statuses = ['', 'pending', 'dispatched', 'running', 'completed', 'failed', 'timed_out', 'cancelled'];
    const form = el('form', { class: 'inline', id: 'runs-search', onsubmit: e => {
      e.preventDefault();
      const next = new URLSearchParams();
      const q = form.querySelector('[name=q]').value.trim();
      const s = form.querySelector('[name=status]').value;
      if (q) next.set('q', q);
      if (s) next.set('status', s);
      location.hash = '#/runs?' + next;
    } },
      el('label', {}, 'Search plugin, user, error or run id', el('input', { name: 'q', type: 'search', value: params.get('q') || '' })),
      el('label', {}, 'Status', el('select', { name: 'status' }, statuses.map(s => el('option', { value: s, selected: s === (params.get('status') || '') }, s || 'any')))),
      el('button', { type: 'submit' }, 'Search'));
    const rows = data.items.map(r => el('tr', { dataset: { runId: r.run_id } },
      el('td', {}, runLink(r.run_id)), el('td', {}, status(r.status)), el('td', {}, r.plugin), el('td', {}, r.user_id),
      el('td', {}, `${r.attempt} / ${r.max_attempts}`), el('td', {}, time(r.created_at)),
      el('td', { class: 'wrap' }, r.error ?? '')));
    const page = data.page;
    const pager = el('p', { class: 'muted' }, `${data.items.length} of ${data.total} runs`,
      page > 1 ? el('button', { type: 'button', class: 'plain', onclick: () => go({ page: page - 1 }) }, 'newer') : null,
      page * data.page_size < data.total ? el('button', { type: 'button', class: 'plain', onclick: () => go({ page: page + 1 }) }, 'older') : null);
    function go(change) {
      const next = new URLSearchParams(params);
      for (const [k, v] of Object.entries(change)) next.set(k, v);
      location.hash = '#/runs?' + next;
    }
    return [el('section', {}, el('h2', {}, 'Runs'), form,
      table('runs-table', ['run', 'status', 'plugin', 'user', 'attempt', 'created', 'error'], rows), pager)];
  },

  async run(params, id) {
    let data;
    try {
      data = await get(`/runs/${encodeURIComponent(id)}`);
    } catch {
      return [el('p', { class: 'alert', id: 'run-missing' }, `No run ${id}.`)];
    }
    const r = data.run;
    const terminal = ['completed', 'failed', 'timed_out', 'cancelled'].includes(r.status);
    const notice = el('p', { id: 'run-notice', class: 'notice' }, flash);
    async function act(name) {
      const result = await send('POST', `/runs/${encodeURIComponent(id)}/${name}`);
      if (name === 'clone' && result.ok) { location.hash = `#/run/${result.body.run_id}`; return; }
      flash = result.ok ? `${name}: done` : `${name}: ${(result.body && (result.body.outcome || result.body.error)) || result.status}`;
      refresh();
    }
    const actions = el('p', { id: 'run-actions' },
      !terminal ? action('Cancel', () => act('cancel'), { class: 'danger', id: 'cancel-run' }) : null,
      ['failed', 'timed_out'].includes(r.status) ? action('Retry as a new attempt', () => act('retry'), { id: 'retry-run' }) : null,
      action('Clone as a new run', () => act('clone'), { class: 'plain', id: 'clone-run' }));
    const rows = data.entries.map(e => el('tr', { dataset: { kind: e.kind } },
      el('td', {}, time(e.at)), el('td', {}, duration(e.since_previous_ms)), el('td', {}, e.attempt ?? ''),
      el('td', {}, status(e.kind)), el('td', {}, e.step ?? ''), el('td', { class: 'wrap' }, e.message ?? ''), el('td', { class: 'mono' }, e.worker ?? '')));
    return [el('section', { id: 'run-detail' },
      el('h2', {}, 'Run ', el('span', { class: 'mono', id: 'run-id' }, r.run_id)),
      el('p', {}, status(r.status), ` ${r.plugin} for user ${r.user_id}, attempt ${r.attempt} of ${r.max_attempts}`),
      el('p', { class: 'muted' }, `total ${duration(data.total_ms)}`, data.queue_ms !== null ? `, queued ${duration(data.queue_ms)}` : '', data.execution_ms !== null ? `, executed ${duration(data.execution_ms)}` : ''),
      data.error ? el('pre', { id: 'run-error', class: 'alert wrap' }, data.error) : null,
      actions, notice),
      el('section', {}, el('h2', {}, 'Timeline'),
        table('timeline-table', ['at', '+', 'attempt', 'what', 'step', 'message', 'worker'], rows))];
  },

  async dead(params) {
    const stream = params.get('stream') || 'requests';
    const letters = await get(`/dead?stream=${encodeURIComponent(stream)}`);
    const notice = el('p', { id: 'dead-notice', class: 'notice' }, flash);
    const picker = el('form', { class: 'inline' },
      el('label', {}, 'Stream', el('select', { id: 'dead-stream', onchange: e => { location.hash = `#/dead?stream=${e.target.value}`; } },
        ['requests', 'results', 'events'].map(s => el('option', { value: s, selected: s === stream }, s)))),
      letters.length ? action('Purge all', async () => {
        if (!confirm(`Delete every dead letter of ${stream}?`)) return;
        const result = await send('POST', `/dead/${stream}/purge`);
        flash = result.ok ? `deleted ${result.body.deleted}` : `purge: ${result.status}`;
        refresh();
      }, { class: 'danger', id: 'dead-purge' }) : null);
    const rows = [];
    for (const d of letters) {
      const fields = el('tr', { hidden: !openFields.has(d.entry_id), class: 'fields', dataset: { fieldsOf: d.entry_id } }, el('td', { colspan: 6 },
        table(null, ['field', 'value'], d.fields.map(f => el('tr', {}, el('td', { class: 'mono' }, f.key), el('td', { class: 'wrap mono' }, f.value))))));
      const path = `/dead/${stream}/${encodeURIComponent(d.entry_id)}`;
      rows.push(el('tr', { dataset: { entryId: d.entry_id } },
        el('td', { class: 'mono' }, d.entry_id), el('td', {}, time(d.dead_at)), el('td', {}, d.run_id ? runLink(d.run_id) : ''),
        el('td', { class: 'wrap' }, d.reason ?? ''), el('td', { class: 'mono' }, d.consumer_name ?? ''),
        el('td', {},
          el('button', { type: 'button', class: 'plain show-fields', onclick: () => {
            fields.hidden = !fields.hidden;
            if (fields.hidden) openFields.delete(d.entry_id); else openFields.add(d.entry_id);
          } }, 'Fields'),
          action('Replay', async () => {
            const result = await send('POST', path + '/replay');
            flash = result.ok
              ? (result.body.outcome === 'RunRetried' ? `run ${result.body.run.run_id} runs again as attempt ${result.body.run.attempt}` : `replayed as ${result.body.entry_id}`)
              : `replay: ${(result.body && result.body.outcome) || result.status}`;
            refresh();
          }, { class: 'replay' }),
          action('Delete', async () => {
            const result = await send('DELETE', path);
            flash = result.ok ? 'deleted' : `delete: ${result.status}`;
            refresh();
          }, { class: 'danger delete' }))));
      rows.push(fields);
    }
    return [el('section', {}, el('h2', {}, `Dead letters of ${stream} (${letters.length})`), picker, notice,
      letters.length ? table('dead-table', ['id', 'dead at', 'run', 'reason', 'consumer', ''], rows) : el('p', { class: 'muted', id: 'dead-none' }, 'No dead letters.'))];
  },
};

function card(label, value, id) {
  return el('div', { class: 'card', id }, el('div', { class: 'value' }, value), el('div', { class: 'label' }, label));
}

/** A bar per minute: completed below, failed and timed out stacked on top. */
function chart(buckets) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const width = 1180, height = 200, bottom = 20;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('id', 'activity-chart');
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...buckets.map(b => b.completed + b.failed + b.timed_out));
  const step = width / Math.max(1, buckets.length);
  const scale = (height - bottom - 10) / max;
  buckets.forEach((b, i) => {
    const ok = b.completed * scale, bad = (b.failed + b.timed_out) * scale;
    for (const [cls, y, h] of [['completed', height - bottom - ok, ok], ['failed', height - bottom - ok - bad, bad]]) {
      if (h <= 0) continue;
      const rect = document.createElementNS(ns, 'rect');
      rect.setAttribute('x', String(i * step + 1));
      rect.setAttribute('y', String(y));
      rect.setAttribute('width', String(Math.max(1, step - 2)));
      rect.setAttribute('height', String(h));
      rect.setAttribute('class', cls);
      const title = document.createElementNS(ns, 'title');
      title.textContent = `${time(b.start)}: ${b.completed} completed, ${b.failed} failed, ${b.timed_out} timed out`;
      rect.append(title);
      svg.append(rect);
    }
  });
  const axis = document.createElementNS(ns, 'line');
  for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: height - bottom, y2: height - bottom, class: 'axis' })) axis.setAttribute(k, String(v));
  svg.append(axis);
  for (const [i, label] of [[0, '-60 min'], [buckets.length - 1, 'now']]) {
    const text = document.createElementNS(ns, 'text');
    text.setAttribute('x', String(Math.max(0, i * step - (label === 'now' ? 10 : 0))));
    text.setAttribute('y', String(height - 5));
    text.textContent = label;
    svg.append(text);
  }
  const top = document.createElementNS(ns, 'text');
  top.setAttribute('x', '2');
  top.setAttribute('y', '10');
  top.textContent = `max ${max} per minute`;
  svg.append(top);
  return svg;
}

// ---------------------------------------------------------------- routing and live updates

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, search] = hash.split('?');
  const parts = path.split('/').filter(Boolean);
  const name = parts[0] || 'overview';
  return { name: views[name] ? name : 'overview', arg: parts[1] ? decodeURIComponent(parts[1]) : null, params: new URLSearchParams(search || '') };
}

let rendering = false;
let again = false;
async function refresh() {
  // A change announced while a view renders is shown by one more rendering right after it.
  if (rendering) { again = true; return; }
  // A refresh never takes away what the user is typing.
  if (document.activeElement && ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement.tagName) && current === route().name) return;
  rendering = true;
  const r = route();
  try {
    const content = await views[r.name](r.params, r.arg);
    view.replaceChildren(...content.filter(Boolean));
    view.dataset.view = r.name;
    view.dataset.loaded = String(Date.now());
    current = r.name;
    showProblem(null);
  } catch (error) {
    showProblem(`Could not load this view: ${error.message}`);
  } finally {
    rendering = false;
  }
  if (again) {
    again = false;
    setTimeout(refresh, 0);
  }
  for (const link of document.querySelectorAll('nav a[id]')) {
    link.toggleAttribute('aria-current', link.id === `nav-${r.name === 'run' ? 'runs' : r.name}`);
    if (link.hasAttribute('aria-current')) link.setAttribute('aria-current', 'page');
  }
}

function live() {
  const dot = document.getElementById('live');
  const source = new EventSource(api + '/events');
  source.addEventListener('open', () => dot.classList.add('on'));
  source.addEventListener('error', () => dot.classList.remove('on'));
  source.addEventListener('tick', () => {
    document.body.dataset.ticks = String(+(document.body.dataset.ticks || 0) + 1);
    refresh();
  });
}

async function start() {
  try {
    readOnly = (await get('/config')).read_only;
  } catch (error) {
    showProblem(`The operations API does not answer: ${error.message}`);
  }
  document.getElementById('read-only').hidden = !readOnly;
  document.body.dataset.readOnly = String(readOnly);
  window.addEventListener('hashchange', () => { current = null; flash = ''; refresh(); });
  await refresh();
  live();
}

start();
