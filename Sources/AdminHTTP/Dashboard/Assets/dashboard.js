// The jobhost dashboard: one page that reads the JSON API of the server that served it (/api/v1,
// /health) and changes things only through the same API calls the `host` commands make. Data is
// always put into the page as text, never as markup. No library: nothing to fetch from elsewhere.
'use strict';

const REFRESH_MS = 5000;
const PAGE_SIZE = 50;
const JOB_STATES = ['ready', 'running', 'scheduled', 'done', 'dead'];

let session = { signed_in: false, reads_open: false, changes_possible: false };
let refreshTimer = null;
let currentRefresh = null;

// MARK: DOM helpers

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// What a list of parts shows: the ones that are there.
function present(parts) {
  return parts.filter(part => part !== undefined && part !== null && part !== false);
}

function svgEl(tag, attributes) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  return node;
}

function table(headers, rows, attributes) {
  return el('div', { class: 'scroll' },
    el('table', attributes || {},
      el('thead', {}, el('tr', {}, headers.map(h => typeof h === 'string' ? el('th', {}, h) : h))),
      el('tbody', {}, rows)));
}

function badge(text, kind) {
  return el('span', { class: `badge ${kind || 'state-' + text}` }, text);
}

function when(iso) {
  if (!iso) return el('span', { class: 'muted' }, '—');
  const date = new Date(iso);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const span = Math.abs(seconds);
  let text;
  if (span < 60) text = `${span}s`;
  else if (span < 3600) text = `${Math.round(span / 60)}m`;
  else if (span < 86400) text = `${Math.round(span / 3600)}h`;
  else text = `${Math.round(span / 86400)}d`;
  return el('time', { datetime: iso, title: date.toLocaleString() }, seconds >= 0 ? `${text} ago` : `in ${text}`);
}

function duration(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
}

function link(hash, text, attributes) {
  return el('a', Object.assign({ href: '#' + hash }, attributes || {}), text);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, value);
  const text = search.toString();
  return text ? '?' + text : '';
}

function flash(message, failed) {
  const box = document.getElementById('flash');
  box.textContent = message;
  box.className = failed ? 'failure' : '';
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { box.textContent = ''; }, failed ? 15000 : 6000);
}

// MARK: The API

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function csrfToken() {
  const entry = document.cookie.split('; ').find(part => part.startsWith('jobhost_csrf='));
  return entry ? entry.slice('jobhost_csrf='.length) : '';
}

async function api(path, options) {
  const method = (options && options.method) || 'GET';
  const headers = { Accept: 'application/json' };
  let body;
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  if (options && options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  let answer = null;
  try { answer = await response.json(); } catch (_) { answer = null; }
  if (!response.ok) {
    if (response.status === 401 && method === 'GET' && !session.signed_in) {
      go('/signin' + query({ next: location.hash.slice(1) }));
    }
    throw new APIError(response.status, (answer && answer.error) || `${response.status} ${response.statusText}`);
  }
  return answer;
}

// Changes need the token: an operator not signed in is sent to sign in first, then back here.
function needsSignIn() {
  if (session.signed_in) return false;
  go('/signin' + query({ next: location.hash.slice(1) }));
  return true;
}

async function change(path, body, done) {
  if (needsSignIn()) return null;
  try {
    const answer = await api(path, { method: 'POST', body });
    if (done) flash(typeof done === 'function' ? done(answer) : done);
    await refreshNow();
    return answer;
  } catch (error) {
    flash(error.message, true);
    return null;
  }
}

function actionButton(label, attributes, run) {
  const button = el('button', Object.assign({ type: 'button' }, attributes), label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try { await run(); } finally { button.disabled = false; }
  });
  if (!session.changes_possible) {
    button.disabled = true;
    button.title = 'changes over HTTP are off: the host has no admin token';
  }
  return button;
}

// A destructive action asks once more, in the page, naming what it will do.
function confirmingButton(label, attributes, question, run) {
  const holder = el('span', { class: 'confirming' });
  const button = actionButton(label, attributes, async () => {
    if (needsSignIn()) return;
    const text = typeof question === 'function' ? question() : question;
    const box = el('div', { class: 'confirm', role: 'alertdialog' },
      el('span', {}, text),
      actionButton('Confirm', { class: 'danger', 'data-action': 'confirm' }, async () => { box.remove(); await run(); }),
      el('button', { type: 'button', 'data-action': 'cancel-confirm', onclick: () => box.remove() }, 'Keep'));
    holder.querySelector('.confirm')?.remove();
    holder.append(box);
  });
  holder.prepend(button);
  return holder;
}

// MARK: Routing

function go(hash) {
  if (location.hash.slice(1) === hash) render();
  else location.hash = hash;
}

function route() {
  const hash = location.hash.slice(1) || '/';
  const [path, search] = hash.split('?');
  const parts = path.split('/').filter(Boolean);
  return { page: parts[0] || 'overview', arg: parts.slice(1).map(decodeURIComponent).join('/'), params: new URLSearchParams(search || '') };
}

const pages = {
  overview: renderOverview,
  queues: renderQueues,
  jobs: renderJobs,
  job: renderJob,
  dead: renderDead,
  schedules: renderSchedules,
  plugins: renderPlugins,
  signin: renderSignIn,
};

async function render() {
  const where = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('current', a.dataset.page === where.page);
  const page = pages[where.page] || renderMissing;
  const main = document.getElementById('main');
  currentRefresh = null;
  if (where.page !== 'signin' && !session.reads_open && !session.signed_in) {
    go('/signin' + query({ next: location.hash.slice(1) }));
    return;
  }
  try {
    const content = await page(where);
    if (route().page !== where.page || route().arg !== where.arg) return;
    main.replaceChildren(...present([content].flat()));
  } catch (error) {
    main.replaceChildren(el('h1', {}, 'Something went wrong'), el('p', { class: 'error-text' }, error.message));
  }
}

async function refreshNow() {
  if (currentRefresh) await currentRefresh();
}

function refreshEvery(refresh) {
  currentRefresh = refresh;
}

function startRefreshing() {
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => {
    // Redrawing would throw away a question being answered or text being typed.
    const busy = document.querySelector('.confirm') || document.activeElement?.matches('input, select');
    if (document.visibilityState === 'visible' && currentRefresh && !busy) currentRefresh().catch(error => flash(error.message, true));
  }, REFRESH_MS);
}

function renderMissing() {
  return [el('h1', {}, 'No such page'), el('p', {}, link('/', 'Back to the overview'))];
}

// MARK: Session

async function loadSession() {
  session = await api('/session');
  const box = document.getElementById('session');
  if (session.signed_in) {
    box.replaceChildren(el('span', {}, 'signed in'), el('button', { type: 'button', 'data-action': 'sign-out', onclick: signOut }, 'Sign out'));
  } else if (session.changes_possible) {
    box.replaceChildren(link('/signin' + query({ next: location.hash.slice(1) }), session.reads_open ? 'Sign in to make changes' : 'Sign in', { 'data-action': 'sign-in' }));
  } else {
    box.replaceChildren(el('span', { title: 'set admin.token_env to allow changes' }, 'read-only'));
  }
}

async function signOut() {
  await api('/logout', { method: 'POST' });
  await loadSession();
  go('/');
}

function renderSignIn(where) {
  const next = where.params.get('next') || '/';
  const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, autofocus: true });
  const problem = el('p', { class: 'error-text', id: 'signin-error' });
  const form = el('form', { class: 'panel signin', id: 'signin' },
    el('h1', {}, 'Sign in'),
    el('p', { class: 'muted' }, 'The admin token: the value of the variable the config names in admin.token_env. It is kept in a cookie this page cannot read, for 12 hours.'),
    el('label', { for: 'token' }, 'Token'), input,
    el('button', { type: 'submit', class: 'primary' }, 'Sign in'), problem);
  form.addEventListener('submit', async event => {
    event.preventDefault();
    problem.textContent = '';
    try {
      await api('/login', { method: 'POST', body: { token: input.value } });
      input.value = '';
      await loadSession();
      go(next.startsWith('/signin') ? '/' : next);
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  if (!session.changes_possible) {
    return [el('h1', {}, 'Sign in'), el('p', {}, 'This host has no admin token (admin.token_env), so there is nothing to sign in with.')];
  }
  return form;
}

// MARK: Overview

async function renderOverview() {
  const queuesBox = el('section', { class: 'panel', id: 'overview-queues' });
  const chartBox = el('section', { class: 'panel chart', id: 'throughput' });
  const healthBox = el('section', { class: 'panel', id: 'health' });
  const hostsBox = el('section', { class: 'panel', id: 'hosts' });
  async function refresh() {
    const [queues, health, throughput, hosts] = await Promise.all([
      api('/api/v1/queues'), api('/health').catch(() => null), api('/api/v1/throughput').catch(() => null),
      api('/api/v1/hosts').catch(() => null)]);
    queuesBox.replaceChildren(el('h2', {}, 'Queues'), queueCountsTable(queues.queues));
    chartBox.replaceChildren(el('h2', {}, 'Jobs per second, last 10 minutes'), ...throughputChart(throughput));
    const jobsRun = new Map(((hosts && hosts.workers) || []).map(worker => [worker.pid, worker.jobs_run]));
    healthBox.replaceChildren(...present(healthParts(health, jobsRun)));
    hostsBox.replaceChildren(...present(hostParts(hosts)));
  }
  await refresh();
  refreshEvery(refresh);
  return [el('h1', {}, 'Overview'), queuesBox, chartBox, healthBox, hostsBox];
}

function queueCountsTable(queues) {
  const rows = queues.map(queue => {
    const jobs = queue.jobs || {};
    const jobsOf = state => `/jobs${query({ queue: queue.name, state })}`;
    return el('tr', { 'data-queue': queue.name },
      el('td', {}, link(jobsOf('ready'), queue.name)),
      el('td', {}, queue.error ? badge('backend down', 'down') : queue.paused ? badge('paused', 'paused') : badge('running', 'up')),
      el('td', { 'data-count': 'ready', class: 'num' }, String(jobs.ready ?? '—')),
      el('td', { 'data-count': 'running', class: 'num' }, String(jobs.running ?? '—')),
      el('td', { 'data-count': 'scheduled', class: 'num' }, String(jobs.scheduled ?? '—')),
      el('td', { 'data-count': 'dead', class: 'num' }, jobs.dead ? link(`/dead${query({ queue: queue.name })}`, String(jobs.dead)) : String(jobs.dead ?? '—')),
      el('td', { 'data-count': 'done', class: 'num' }, String(jobs.done ?? '—')),
      el('td', { 'data-count': 'processed', class: 'num hide-narrow' }, String(jobs.processed ?? '—')),
      el('td', { 'data-count': 'failed', class: 'num hide-narrow' }, String(jobs.failed ?? '—')),
      el('td', { class: 'muted hide-narrow' }, queue.error || queue.backend));
  });
  const numeric = ['ready', 'running', 'scheduled', 'dead', 'done'].map(h => el('th', { class: 'num' }, h));
  return table(['queue', 'state', ...numeric, el('th', { class: 'num hide-narrow' }, 'processed'), el('th', { class: 'num hide-narrow' }, 'failed'), el('th', { class: 'hide-narrow' }, 'backend')],
    rows, { id: 'queue-counts' });
}

// Points of {at, processed, failed} per second, summed over queues.
function throughputPoints(throughput) {
  const seconds = throughput.interval_seconds || 5;
  const byTime = new Map();
  for (const queue of throughput.queues) {
    for (const point of queue.points || []) {
      const sum = byTime.get(point.at) || { at: new Date(point.at).getTime(), processed: 0, failed: 0 };
      sum.processed += (point.processed || 0) / seconds;
      sum.failed += (point.failed || 0) / seconds;
      byTime.set(point.at, sum);
    }
  }
  return [...byTime.values()].sort((a, b) => a.at - b.at);
}

function throughputChart(throughput) {
  if (!throughput) return [el('p', { class: 'muted' }, 'not available')];
  const points = throughputPoints(throughput);
  const last = points[points.length - 1];
  const legend = el('div', { class: 'legend' },
    el('span', { class: 'processed' }, `processed ${last ? last.processed.toFixed(1) : '0'}/s`),
    el('span', { class: 'failed' }, `failed ${last ? last.failed.toFixed(1) : '0'}/s`));
  const width = 600, height = 160, left = 40, bottom = 18;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'jobs per second' });
  const top = Math.max(1, ...points.map(p => Math.max(p.processed, p.failed)));
  const end = Date.now(), start = end - 10 * 60 * 1000;
  const x = at => left + (width - left) * Math.min(1, Math.max(0, (at - start) / (end - start)));
  const y = value => (height - bottom) - (height - bottom - 6) * (value / top);
  svg.append(svgEl('line', { class: 'axis', x1: left, y1: height - bottom, x2: width, y2: height - bottom }));
  svg.append(svgEl('line', { class: 'axis', x1: left, y1: 6, x2: left, y2: height - bottom }));
  const label = svgEl('text', { x: 2, y: 14 });
  label.textContent = top >= 10 ? Math.round(top) : top.toFixed(1);
  svg.append(label);
  for (const [name, field] of [['processed', 'processed'], ['failed', 'failed']]) {
    if (points.length < 2) continue;
    svg.append(svgEl('polyline', { class: name, points: points.map(p => `${x(p.at).toFixed(1)},${y(p[field]).toFixed(1)}`).join(' ') }));
  }
  return [legend, svg];
}

function healthParts(health, jobsRun) {
  if (!health) return [el('h2', {}, 'Health'), el('p', { class: 'muted' }, 'not available')];
  const backends = (health.backends || []).map(b => el('tr', { 'data-backend': b.name },
    el('td', {}, b.name), el('td', {}, b.type || ''), el('td', {}, b.up ? badge('up', 'up') : badge('down', 'down')),
    el('td', { class: 'num' }, b.latency_milliseconds !== undefined ? `${b.latency_milliseconds} ms` : '—'),
    el('td', { class: 'error' }, b.error || '')));
  const workers = (health.workers || []).map(w => el('tr', {},
    el('td', {}, w.name), el('td', { class: 'num' }, String(w.pid ?? '—')), el('td', {}, w.queue || ''),
    el('td', { class: 'num' }, String(w.running ?? 0)), el('td', { class: 'num' }, String(jobsRun.get(w.pid) ?? '—')),
    el('td', { class: 'num' }, String(w.restarts ?? 0))));
  return [
    el('h2', {}, 'Health ', health.status === 'ok' ? badge('ok', 'up') : badge(health.status || 'problem', 'down')),
    (health.problems || []).length ? el('ul', { class: 'error-text' }, health.problems.map(p => el('li', {}, typeof p === 'string' ? p : JSON.stringify(p)))) : null,
    table(['backend', 'type', 'state', el('th', { class: 'num' }, 'latency'), ''], backends, { id: 'backends' }),
    workers.length ? el('h2', {}, 'Worker processes of this host') : null,
    workers.length ? table(['worker', el('th', { class: 'num' }, 'pid'), 'queue', el('th', { class: 'num' }, 'running'), el('th', { class: 'num' }, 'jobs run'), el('th', { class: 'num' }, 'restarts')], workers) : null,
  ];
}

function hostParts(hosts) {
  if (!hosts || !hosts.hosts) return [];
  const unanswered = (hosts.errors || []).map(e => el('p', { class: 'error-text' }, typeof e === 'string' ? e : `${e.backend}: ${e.error}`));
  const rows = hosts.hosts.map(h => el('tr', { 'data-host': h.name },
    el('td', {}, h.name), el('td', {}, h.alive === false ? badge('gone', 'down') : badge('alive', 'up')),
    el('td', {}, h.machine || ''), el('td', { class: 'num' }, String(h.pid ?? '—')),
    el('td', {}, when(h.started_at)), el('td', {}, when(h.last_seen_at)), el('td', {}, h.backend || '')));
  return [el('h2', {}, 'Hosts'), ...unanswered, table(['host', 'state', 'machine', el('th', { class: 'num' }, 'pid'), 'started', 'last seen', 'backend'], rows, { id: 'hosts-table' })];
}

// MARK: Queues

async function renderQueues() {
  const box = el('section', { class: 'panel' });
  async function refresh() {
    const { queues } = await api('/api/v1/queues');
    const rows = queues.map(queue => {
      const jobs = queue.jobs || {};
      const paused = !!queue.paused;
      return el('tr', { 'data-queue': queue.name },
        el('td', {}, link(`/jobs${query({ queue: queue.name, state: 'ready' })}`, queue.name)),
        el('td', {}, queue.error ? badge('backend down', 'down') : paused ? badge('paused', 'paused') : badge('running', 'up')),
        el('td', { class: 'num' }, String(queue.concurrency)), el('td', {}, queue.isolation || ''),
        el('td', { class: 'num' }, String(jobs.ready ?? '—')), el('td', { class: 'num' }, String(jobs.running ?? '—')),
        el('td', { class: 'num' }, String(jobs.scheduled ?? '—')), el('td', { class: 'num' }, String(jobs.dead ?? '—')),
        el('td', {}, el('span', { class: 'actions' },
          paused
            ? actionButton('Resume', { 'data-action': 'resume' }, () => change(`/api/v1/queues/${encodeURIComponent(queue.name)}/resume`, undefined, `Queue ${queue.name} resumed`))
            : actionButton('Pause', { 'data-action': 'pause' }, () => change(`/api/v1/queues/${encodeURIComponent(queue.name)}/pause`, undefined, `Queue ${queue.name} paused: running jobs finish, no new ones start`)))));
    });
    box.replaceChildren(table(['queue', 'state', el('th', { class: 'num' }, 'concurrency'), 'isolation', ...['ready', 'running', 'scheduled', 'dead'].map(h => el('th', { class: 'num' }, h)), ''], rows, { id: 'queues' }));
  }
  await refresh();
  refreshEvery(refresh);
  return [el('h1', {}, 'Queues'),
    el('p', { class: 'muted' }, 'A paused queue keeps taking jobs but starts none, on every host of its backend; running jobs finish.'), box];
}

// MARK: Jobs

async function queueNames() {
  const { queues } = await api('/api/v1/queues');
  return queues.map(q => q.name);
}

async function renderJobs(where) {
  const names = await queueNames();
  const queue = where.params.get('queue') || names[0];
  const state = where.params.get('state') || 'ready';
  const text = where.params.get('q') || '';
  const offset = Math.max(0, parseInt(where.params.get('offset') || '0', 10) || 0);
  const queueSelect = el('select', { name: 'queue', id: 'jobs-queue' }, names.map(n => el('option', { value: n, selected: n === queue }, n)));
  const stateSelect = el('select', { name: 'state', id: 'jobs-state' }, JOB_STATES.map(s => el('option', { value: s, selected: s === state && !text }, s)));
  const searchInput = el('input', { type: 'search', name: 'q', id: 'jobs-search', value: text, placeholder: 'id, handler or payload text' });
  const listForm = el('form', { class: 'inline' }, queueSelect, stateSelect);
  const showList = () => go(`/jobs${query({ queue: queueSelect.value, state: stateSelect.value })}`);
  queueSelect.addEventListener('change', showList);
  stateSelect.addEventListener('change', showList);
  listForm.addEventListener('submit', event => { event.preventDefault(); showList(); });
  const searchForm = el('form', { class: 'inline', id: 'search' }, searchInput, el('button', { type: 'submit' }, 'Search'));
  searchForm.addEventListener('submit', event => {
    event.preventDefault();
    go(`/jobs${query({ queue: queueSelect.value, q: searchInput.value.trim() })}`);
  });
  const box = el('section', { class: 'panel', id: 'jobs' });

  async function refresh() {
    if (text) {
      const found = await searchJobs(queue, text);
      box.replaceChildren(
        el('p', { class: 'muted' }, `${found.jobs.length} job${found.jobs.length === 1 ? '' : 's'} of ${queue} matching “${text}”`,
          found.truncated ? ' (only the newest jobs were searched)' : ''),
        jobsTable(found.jobs, 'search-results'));
      return;
    }
    const page = await api(`/api/v1/queues/${encodeURIComponent(queue)}/jobs${query({ state, offset, limit: PAGE_SIZE })}`);
    const pager = el('div', { class: 'pager' },
      offset > 0 ? link(`/jobs${query({ queue, state, offset: Math.max(0, offset - PAGE_SIZE) })}`, '← newer', { 'data-action': 'newer' }) : null,
      el('span', { class: 'muted' }, page.jobs.length ? `${offset + 1}–${offset + page.jobs.length}` : 'none'),
      page.next_offset ? link(`/jobs${query({ queue, state, offset: page.next_offset })}`, 'older →', { 'data-action': 'older' }) : null);
    box.replaceChildren(jobsTable(page.jobs), pager);
  }
  await refresh();
  refreshEvery(refresh);
  return [el('h1', {}, 'Jobs'), el('div', { class: 'toolbar' }, listForm, searchForm), box];
}

// The queue's search; an id typed in full is also looked up directly, so a job of another queue is found.
async function searchJobs(queue, text) {
  const [direct, found] = await Promise.all([
    api(`/api/v1/jobs/${encodeURIComponent(text)}`).catch(() => null),
    api(`/api/v1/queues/${encodeURIComponent(queue)}/search${query({ q: text, limit: PAGE_SIZE })}`)]);
  const jobs = found.jobs;
  if (direct && !jobs.some(job => job.id === direct.id)) jobs.unshift(direct);
  return { jobs, truncated: !!found.truncated };
}

function jobsTable(jobs, id) {
  if (!jobs.length) return el('p', { class: 'muted' }, 'No jobs.');
  const rows = jobs.map(job => el('tr', { 'data-job': job.id },
    el('td', { class: 'mono' }, link(`/job/${encodeURIComponent(job.id)}`, job.id)),
    el('td', {}, job.handler), el('td', {}, badge(job.state)),
    el('td', { class: 'num' }, `${job.attempt}/${job.max_attempts}`),
    el('td', {}, when(job.updated_at || job.enqueued_at)),
    el('td', { class: 'mono hide-narrow' }, truncate(job.payload, 80)),
    el('td', { class: 'error' }, truncate(job.last_error || '', 160))));
  return table(['id', 'handler', 'state', el('th', { class: 'num' }, 'attempt'), 'changed', el('th', { class: 'hide-narrow' }, 'payload'), 'last error'], rows, { id: id || 'job-list' });
}

function truncate(text, length) {
  return text && text.length > length ? text.slice(0, length - 1) + '…' : text;
}

function prettyJSON(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
}

async function renderJob(where) {
  const id = where.arg;
  const box = el('div', { id: 'job' });
  async function refresh() {
    const job = await api(`/api/v1/jobs/${encodeURIComponent(id)}`);
    box.replaceChildren(...jobParts(job));
  }
  await refresh();
  refreshEvery(refresh);
  return [el('h1', {}, 'Job ', el('span', { class: 'mono' }, id)), box];
}

function jobParts(job) {
  const fields = [
    ['state', badge(job.state)], ['queue', link(`/jobs${query({ queue: job.queue, state: job.state })}`, job.queue)], ['handler', job.handler],
    ['attempt', `${job.attempt} of ${job.max_attempts}`], ['enqueued', when(job.enqueued_at)], ['changed', when(job.updated_at)],
    ['origin', job.origin || 'enqueued'], ['unique key', job.unique_key || '—'],
  ];
  if (job.crashes) fields.push(['crashes', String(job.crashes)]);
  if (job.progress !== undefined && job.progress !== null) fields.push(['progress', `${Math.round(job.progress * 100)}%`]);
  if (job.note) fields.push(['note', job.note]);
  const actions = el('div', { class: 'actions', id: 'job-actions' });
  const path = `/api/v1/jobs/${encodeURIComponent(job.id)}`;
  if (job.state === 'dead') {
    actions.append(
      actionButton('Retry', { class: 'primary', 'data-action': 'retry' }, () => change(`${path}/retry`, undefined, `Job ${job.id} is ready again`)),
      confirmingButton('Discard', { class: 'danger', 'data-action': 'discard' }, `Delete dead job ${job.id} for good?`, async () => {
        if (await change(`${path}/discard`, undefined, `Job ${job.id} discarded`)) go(`/jobs${query({ queue: job.queue, state: 'dead' })}`);
      }));
  } else if (job.state === 'ready' || job.state === 'scheduled') {
    actions.append(confirmingButton('Cancel job', { class: 'danger', 'data-action': 'cancel' }, `Delete ${job.state} job ${job.id}? It will not run.`, async () => {
      if (await change(`${path}/cancel`, undefined, `Job ${job.id} cancelled`)) go(`/jobs${query({ queue: job.queue, state: job.state })}`);
    }));
  }
  const parts = [
    el('section', { class: 'panel' }, el('dl', { class: 'fields', id: 'job-fields' }, fields.flatMap(([name, value]) => [el('dt', {}, name), el('dd', { 'data-field': name }, value)])), actions),
    el('section', { class: 'panel' }, el('h2', {}, 'Payload'), el('pre', { id: 'payload' }, prettyJSON(job.payload))),
  ];
  if (job.result) parts.push(el('section', { class: 'panel' }, el('h2', {}, 'Result'), el('pre', { id: 'result' }, prettyJSON(job.result))));
  if (job.last_error) parts.push(el('section', { class: 'panel' }, el('h2', {}, 'Last error'), el('pre', { class: 'error-text' }, job.last_error)));
  parts.push(el('section', { class: 'panel' }, el('h2', {}, 'Attempts'), attemptsTable(job.attempts)));
  return parts;
}

function attemptsTable(attempts) {
  if (!attempts || !attempts.length) return el('p', { class: 'muted' }, 'Not run yet.');
  const rows = attempts.map(a => el('tr', { 'data-attempt': a.number },
    el('td', { class: 'num' }, String(a.number)),
    el('td', {}, badge(a.signal ? `${a.outcome} (${a.signal})` : a.outcome, `state-${outcomeKind(a.outcome)}`)),
    el('td', {}, when(a.started_at)),
    el('td', { class: 'num' }, duration(a.run_seconds * 1000)),
    el('td', {}, [a.host, a.worker].filter(Boolean).join(' · ')),
    el('td', { class: 'error' }, a.error || '')));
  return table([el('th', { class: 'num' }, '#'), 'outcome', 'started', el('th', { class: 'num' }, 'ran'), 'host · worker', 'error'], rows, { id: 'attempts' });
}

function outcomeKind(outcome) {
  return outcome === 'done' ? 'done' : outcome === 'released' ? 'ready' : 'failed';
}

// MARK: Dead jobs

async function renderDead(where) {
  const only = where.params.get('queue');
  const box = el('div', { id: 'dead' });
  async function refresh() {
    const { queues } = await api('/api/v1/queues');
    const shown = queues.filter(q => !only || q.name === only);
    const sections = await Promise.all(shown.map(async queue => {
      const dead = queue.jobs?.dead ?? 0;
      const page = dead ? await api(`/api/v1/queues/${encodeURIComponent(queue.name)}/jobs${query({ state: 'dead', limit: 20 })}`) : { jobs: [] };
      const base = `/api/v1/queues/${encodeURIComponent(queue.name)}/dead`;
      const plural = n => `${n} dead job${n === 1 ? '' : 's'}`;
      return el('section', { class: 'panel', 'data-queue': queue.name },
        el('h2', {}, queue.name, ' ', el('span', { class: 'muted', 'data-count': 'dead' }, plural(dead))),
        dead ? el('div', { class: 'actions' },
          confirmingButton('Retry all', { 'data-action': 'retry-all' }, `Make all ${plural(dead)} of ${queue.name} ready again, with fresh attempts?`,
            () => change(`${base}/retry`, undefined, answer => `${answer.changed} job${answer.changed === 1 ? '' : 's'} of ${queue.name} ready again`)),
          confirmingButton('Discard all', { class: 'danger', 'data-action': 'discard-all' }, `Delete all ${plural(dead)} of ${queue.name} for good?`,
            () => change(`${base}/discard`, undefined, answer => `${answer.changed} dead job${answer.changed === 1 ? '' : 's'} of ${queue.name} discarded`))) : null,
        dead ? jobsTable(page.jobs) : el('p', { class: 'muted' }, 'No dead jobs.'),
        dead > page.jobs.length ? el('p', {}, link(`/jobs${query({ queue: queue.name, state: 'dead' })}`, `All ${plural(dead)}`)) : null);
    }));
    box.replaceChildren(...sections);
  }
  await refresh();
  refreshEvery(refresh);
  return [el('h1', {}, 'Dead jobs'), el('p', { class: 'muted' }, 'Jobs that used up their attempts, were discarded by their handler, or crashed their worker too often.'), box];
}

// MARK: Schedules

async function renderSchedules() {
  const box = el('section', { class: 'panel' });
  async function refresh() {
    const { schedules } = await api('/api/v1/schedules');
    const rows = schedules.map(s => {
      const status = !s.enabled_in_config ? badge('off in config', 'paused') : s.disabled ? badge('disabled', 'paused') : s.disabled === null || s.disabled === undefined ? badge('unknown', 'down') : badge('enabled', 'up');
      const path = `/api/v1/schedules/${encodeURIComponent(s.name)}`;
      return el('tr', { 'data-schedule': s.name },
        el('td', {}, s.name), el('td', {}, s.handler), el('td', {}, s.queue),
        el('td', { class: 'mono' }, s.trigger), el('td', {}, s.time_zone), el('td', {}, status),
        el('td', {}, el('ul', { class: 'plain' }, (s.next_fires || []).map(t => el('li', {}, when(t))))),
        el('td', {}, recentRuns(s.recent_runs)),
        el('td', {}, el('span', { class: 'actions' },
          s.disabled
            ? actionButton('Enable', { 'data-action': 'enable' }, () => change(`${path}/enable`, undefined, `Schedule ${s.name} enabled`))
            : actionButton('Disable', { 'data-action': 'disable', disabled: !s.enabled_in_config }, () => change(`${path}/disable`, undefined, `Schedule ${s.name} disabled: it fires nothing until enabled`)),
          actionButton('Run now', { 'data-action': 'trigger' }, () => change(`${path}/trigger`, undefined, answer => `Schedule ${s.name} triggered: job ${answer.id}`)))));
    });
    box.replaceChildren(schedules.length ? table(['schedule', 'handler', 'queue', 'when', 'time zone', 'state', 'next fires', 'recent runs', ''], rows, { id: 'schedules' }) : el('p', { class: 'muted' }, 'No schedules in the config.'));
  }
  await refresh();
  refreshEvery(refresh);
  return [el('h1', {}, 'Schedules'), el('p', { class: 'muted' }, 'Disable switches a schedule off for every host of its backend until enabled; Run now enqueues one job at once, beside its fire times.'), box];
}

function recentRuns(runs) {
  if (!runs) return el('span', { class: 'muted' }, '—');
  if (!runs.length) return el('span', { class: 'muted' }, 'none yet');
  return el('ul', { class: 'plain runs' }, runs.slice(0, 5).map(run => el('li', { 'data-run': run.job_id || '' },
    run.job_id && run.state !== 'pruned' && run.state !== 'skipped' ? link(`/job/${encodeURIComponent(run.job_id)}`, badge(run.state)) : badge(run.state), ' ', when(run.fire_time),
    run.last_error ? el('div', { class: 'error' }, truncate(run.last_error, 120)) : null)));
}

// MARK: Plugins

async function renderPlugins() {
  const box = el('div', { id: 'plugins' });
  async function refresh() {
    const [plugins, tasks] = await Promise.all([api('/api/v1/plugins'), api('/health/tasks').catch(() => ({ tasks: [] }))]);
    const health = new Map();
    for (const task of tasks.tasks || []) {
      const list = health.get(task.handler) || [];
      list.push(task);
      health.set(task.handler, list);
    }
    box.replaceChildren(...(plugins.plugins || []).map(plugin => el('section', { class: 'panel', 'data-plugin': plugin.name },
      el('h2', {}, plugin.name, ' ', el('span', { class: 'muted' }, plugin.version ? `${plugin.version} · ABI ${plugin.abi}` : ''), ' ',
        plugin.status === 'ok' ? badge('loaded', 'up') : badge(plugin.status || 'refused', 'down')),
      plugin.description ? el('p', {}, plugin.description) : null,
      plugin.reason ? el('p', { class: 'error-text' }, plugin.reason) : null,
      el('p', { class: 'muted mono' }, plugin.path || ''),
      table(['handler', 'description', 'queue', 'runs ok', 'failed', 'in a row', 'last success', 'last failure', 'last error'],
        (plugin.handlers || []).flatMap(handler => {
          const entries = health.get(handler.name) || [{}];
          return entries.map(task => el('tr', { 'data-handler': handler.name },
            el('td', { class: 'mono' }, handler.name), el('td', {}, handler.description || ''), el('td', {}, task.queue || '—'),
            el('td', { class: 'num' }, String(task.succeeded ?? 0)), el('td', { class: 'num' }, String(task.failed ?? 0)),
            el('td', {}, task.consecutive_failures ? badge(`${task.consecutive_failures} failed`, 'down')
              : task.consecutive_successes ? badge(`${task.consecutive_successes} ok`, 'up') : '—'),
            el('td', {}, when(task.last_success_at)), el('td', {}, when(task.last_failure_at)),
            el('td', { class: 'error' }, truncate(task.last_error || '', 160))));
        })))));
  }
  await refresh();
  refreshEvery(refresh);
  return [el('h1', {}, 'Plugins'), el('p', { class: 'muted' }, 'What this host loaded, and how each handler ran here since the host started.'), box];
}

// MARK: Start

window.addEventListener('hashchange', render);
document.addEventListener('DOMContentLoaded', async () => {
  try {
    await loadSession();
  } catch (error) {
    document.getElementById('main').replaceChildren(el('p', { class: 'error-text' }, `The admin server did not answer: ${error.message}`));
    return;
  }
  startRefreshing();
  await render();
});
