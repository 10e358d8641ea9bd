// The wasmjobs dashboard: a thin page over the REST API (same origin,
// session cookie; every request carries X-Requested-With so the host
// knows it comes from here).
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { open: null, tail: null, tailRun: null };

function showError(msg) {
  const e = $('#error');
  e.textContent = msg;
  e.hidden = !msg;
}

async function api(method, path, { body, headers } = {}) {
  const r = await fetch(path, {
    method,
    body,
    credentials: 'same-origin',
    headers: Object.assign({ 'X-Requested-With': 'wasmjobs' }, headers || {}),
  });
  if (r.status === 401) {
    location.reload();
    throw new Error('signed out');
  }
  if (!r.ok) {
    let msg = 'HTTP ' + r.status;
    try { const j = await r.json(); if (j.error) msg = j.error; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

// Runs `f`, showing its error (if any) as a readable message.
async function act(f) {
  try { await f(); showError(''); } catch (e) { showError(e.message); }
}

function text(el, s) { if (el.textContent !== s) el.textContent = s; }

function cell(row, i) { return row.children[i]; }

function jobStatus(job) {
  if (job.type === 'continuous') return job.status || 'Initializing';
  return job.latest_run ? job.latest_run.status : 'Never run';
}

function button(label, action, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset.action = action;
  b.addEventListener('click', () => act(onClick));
  return b;
}

function makeRow(job) {
  const tr = document.createElement('tr');
  tr.dataset.job = job.name;
  tr.dataset.type = job.type;
  for (let i = 0; i < 6; i++) tr.appendChild(document.createElement('td'));
  cell(tr, 0).textContent = job.name;
  cell(tr, 1).textContent = job.type;
  const acts = cell(tr, 5);
  if (job.type === 'triggered') {
    const args = document.createElement('input');
    args.className = 'args';
    args.placeholder = 'arguments';
    acts.appendChild(args);
    acts.appendChild(button('Run', 'run', () => runJob(job.name, args.value)));
  } else {
    acts.appendChild(button('Stop', 'stop', () => setRunning(job.name, false)));
    acts.appendChild(button('Start', 'start', () => setRunning(job.name, true)));
  }
  acts.appendChild(button('Open', 'open', () => openJob(job.type, job.name)));
  return tr;
}

async function refreshJobs() {
  const jobs = await (await api('GET', '/api/webjobs')).json();
  const body = $('#jobs tbody');
  const seen = new Set();
  for (const job of jobs) {
    const key = job.type + '/' + job.name;
    seen.add(key);
    let tr = body.querySelector(`tr[data-job="${CSS.escape(job.name)}"][data-type="${job.type}"]`);
    if (!tr) { tr = makeRow(job); body.appendChild(tr); }
    const st = jobStatus(job);
    const s = cell(tr, 2);
    text(s, st);
    s.className = 'status ' + st;
    text(cell(tr, 3), (job.settings && job.settings.schedule) || '');
    text(cell(tr, 4), (job.wasmjobs && job.wasmjobs.next_run) || '');
    if (job.error) { text(cell(tr, 2), st + ' — ' + job.error); }
    tr.classList.toggle('selected', state.open === key);
  }
  for (const tr of [...body.children]) {
    if (!seen.has(tr.dataset.type + '/' + tr.dataset.job)) tr.remove();
  }
  $('#no-jobs').hidden = jobs.length > 0;
}

async function runJob(name, args) {
  const q = args.trim() ? '?arguments=' + encodeURIComponent(args.trim()) : '';
  const r = await api('POST', `/api/triggeredwebjobs/${encodeURIComponent(name)}/run${q}`);
  const id = (r.headers.get('Location') || '').split('/').pop();
  await openJob('triggered', name);
  if (id) tail(name, id);
}

async function setRunning(name, running) {
  await api('POST', `/api/continuouswebjobs/${encodeURIComponent(name)}/${running ? 'start' : 'stop'}`);
  await refreshJobs();
}

async function openJob(type, name) {
  stopTail();
  $('#output-box').hidden = true;
  state.open = type + '/' + name;
  $('#detail').hidden = false;
  text($('#detail-name'), name + ' (' + type + ')');
  const settings = await (await api('GET', `/api/${type}webjobs/${encodeURIComponent(name)}/settings`)).json();
  $('#settings').value = JSON.stringify(settings, null, 2);
  $('#history-box').hidden = type !== 'triggered';
  if (type === 'triggered') {
    await refreshHistory();
  } else {
    tailLog(name);
  }
  await refreshJobs();
}

async function refreshHistory() {
  if (!state.open || !state.open.startsWith('triggered/')) return;
  const name = state.open.slice('triggered/'.length);
  const r = await fetch(`/api/triggeredwebjobs/${encodeURIComponent(name)}/history`, {
    credentials: 'same-origin', headers: { 'X-Requested-With': 'wasmjobs' },
  });
  const body = $('#history tbody');
  if (r.status === 404) { body.textContent = ''; return; }
  if (!r.ok) throw new Error('history: HTTP ' + r.status);
  const runs = (await r.json()).runs;
  body.textContent = '';
  for (const run of runs) {
    const tr = document.createElement('tr');
    tr.dataset.run = run.id;
    const extra = run.wasmjobs || {};
    for (const v of [run.id, run.status, run.trigger || '', run.start_time || '', run.duration || '', extra.limit || '']) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.children[1].className = 'status ' + run.status;
    const td = document.createElement('td');
    td.appendChild(button('Output', 'output', () => tail(name, run.id)));
    if (run.status === 'Running' || run.status === 'Initializing') {
      td.appendChild(button('Stop', 'stop-run', () =>
        api('POST', `/api/triggeredwebjobs/${encodeURIComponent(name)}/history/${run.id}/stop`)));
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

function stopTail() {
  if (state.tail) state.tail.abort();
  state.tail = null;
}

// Streams a run's output as it is written (`?follow=1`).
async function tail(name, id) {
  stopTail();
  const ctl = new AbortController();
  state.tail = ctl;
  state.tailRun = id;
  $('#output-box').hidden = false;
  text($('#output-run'), id);
  const out = $('#output');
  out.textContent = '';
  const live = $('#output-live');
  text(live, '(live)');
  try {
    const r = await fetch(`/api/triggeredwebjobs/${encodeURIComponent(name)}/history/${id}/output?follow=1`, {
      credentials: 'same-origin', headers: { 'X-Requested-With': 'wasmjobs' }, signal: ctl.signal,
    });
    if (!r.ok) throw new Error('output: HTTP ' + r.status);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out.textContent += dec.decode(value, { stream: true });
      out.scrollTop = out.scrollHeight;
    }
    text(live, '(ended)');
    await refreshHistory();
  } catch (e) {
    if (e.name !== 'AbortError') showError(e.message);
  }
}

// A continuous job's log, re-read while it is open.
async function tailLog(name) {
  const ctl = new AbortController();
  state.tail = ctl;
  $('#output-box').hidden = false;
  text($('#output-run'), 'job_log.txt');
  text($('#output-live'), '(refreshing)');
  while (!ctl.signal.aborted) {
    const r = await fetch(`/vfs/data/jobs/continuous/${encodeURIComponent(name)}/job_log.txt`, {
      credentials: 'same-origin', headers: { 'X-Requested-With': 'wasmjobs' },
    });
    const log = r.ok ? await r.text() : '(no log yet)';
    if (ctl.signal.aborted) break;
    text($('#output'), log);
    await new Promise((res) => setTimeout(res, 1500));
  }
}

$('#upload').addEventListener('submit', (ev) => {
  ev.preventDefault();
  act(async () => {
    const file = $('#upload-file').files[0];
    if (!file) throw new Error('choose a file to upload');
    const name = $('#upload-name').value.trim();
    const type = $('#upload-type').value;
    const isZip = /\.zip$/i.test(file.name);
    await api('PUT', `/api/${type}webjobs/${encodeURIComponent(name)}`, {
      body: file,
      headers: {
        'Content-Type': isZip ? 'application/zip' : 'application/octet-stream',
        'Content-Disposition': `attachment; filename="${file.name.replace(/"/g, '')}"`,
      },
    });
    $('#upload').reset();
    await refreshJobs();
    await openJob(type, name);
  });
});

$('#settings-save').addEventListener('click', () => act(async () => {
  const [type, name] = state.open.split('/');
  let body;
  try { body = JSON.stringify(JSON.parse($('#settings').value)); } catch (e) {
    throw new Error('settings.job is not valid JSON: ' + e.message);
  }
  await api('PUT', `/api/${type}webjobs/${encodeURIComponent(name)}/settings`, {
    body, headers: { 'Content-Type': 'application/json' },
  });
  await refreshJobs();
}));

$('#logout').addEventListener('click', () => act(async () => {
  await api('POST', '/dashboard/logout');
  location.href = '/dashboard/';
}));

// Background refresh: shows its errors, never clears an action's.
async function poll() {
  try { await refreshJobs(); await refreshHistory(); } catch (e) { showError(e.message); }
  setTimeout(poll, 2000);
}
poll();
